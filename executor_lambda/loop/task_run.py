"""One run of a task's function: its value or the exception it raised, and its timing.

The task loop runs tasks this way (in a thread of its own when the invocation runs tasks
concurrently), and so does the handler for a seeded invocation's first task, before the
job's graph is read: the loop then publishes that run as if it were its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from executor_lambda.measurement import NOT_MEASURED, CpuMeter, GilProbe, Measures
from executor_lambda.measurement.task_output import capturing
from executor_lambda.measurement.task_warnings import recording
from storage_manager.protocol import NOTHING_PRINTED, Printed, TaskWarning


@dataclass(slots=True)
class TaskRun:
    """One run; never changed once made (`dataclasses.replace` makes another)."""

    task: int
    start: float
    compute_seconds: float
    """Inside the task's function only, without deserializing it or its inputs."""
    value: Any = None
    error: Exception | None = None
    measures: Measures = NOT_MEASURED
    warnings: tuple[TaskWarning, ...] = ()
    """What it warned, in order (see `task_warnings`)."""
    printed: Printed = NOTHING_PRINTED
    """What it wrote to stdout and stderr (see `task_output`)."""

    @classmethod
    def of(cls, task: int, prepare: Callable[[], tuple[Callable[[dict], Any], dict]],
           probe: GilProbe | None = None) -> TaskRun:
        """Run `task`: `prepare` gives its node and inputs (by key); a failure in either is
        the task's, and so are the warnings either raises and what either prints. With a
        `probe`, its CPU share and GIL-free share are measured."""
        start = time.time()
        error: Exception | None = None
        with recording() as warned, capturing() as printed:
            try:
                node, inputs = prepare()
                meter = CpuMeter() if probe else None
                if probe:
                    probe.start()
                compute_start = time.perf_counter()
                try:
                    value = node(inputs)
                finally:
                    compute = time.perf_counter() - compute_start
                    gil_free = probe.share(compute) if probe else None
            except Exception as exc:
                error = exc
        if error is not None:
            return cls(task, start, 0.0, error=error, warnings=tuple(warned),
                       printed=printed[0])
        measures = Measures(meter.share(compute), gil_free) if meter else NOT_MEASURED
        return cls(task, start, compute, value, measures=measures, warnings=tuple(warned),
                   printed=printed[0])
