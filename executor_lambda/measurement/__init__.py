"""What an executor measures of the tasks it runs: their CPU share (`CpuMeter`), how much of
their time they leave the GIL free (`GilProbe`), and each task's event (`TaskRecorder`)."""

from executor_lambda.measurement.cpu_meter import CpuMeter, run_delay_seconds
from executor_lambda.measurement.gil_probe import GilProbe
from executor_lambda.measurement.recorder import (
    NOT_MEASURED,
    Measures,
    Snapshot,
    TaskRecorder,
    Timing,
)

__all__ = ["NOT_MEASURED", "CpuMeter", "GilProbe", "Measures", "Snapshot", "TaskRecorder",
           "Timing", "run_delay_seconds"]
