"""What an executor measures of the tasks it runs: their CPU share (`CpuMeter`), how much of
their time they leave the GIL free (`GilProbe`), each task's event (`TaskRecorder`), what it
prints (`task_output`), and notices of tasks starting and finishing (`Notices`)."""

from executor_lambda.measurement.cpu_meter import CpuMeter
from executor_lambda.measurement.gil_probe import GilProbe
from executor_lambda.measurement.notices import Notices
from executor_lambda.measurement.recorder import (
    NOT_MEASURED,
    Measures,
    Snapshot,
    TaskRecorder,
    Timing,
)

__all__ = ["NOT_MEASURED", "CpuMeter", "GilProbe", "Measures", "Notices", "Snapshot",
           "TaskRecorder", "Timing"]
