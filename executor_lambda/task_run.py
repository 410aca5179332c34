"""One run of a task's function: its value or the exception it raised, and its timing.

The task loop runs tasks this way (in a thread of its own when the invocation runs tasks
concurrently), and so does the handler for a seeded invocation's first task, before the
job's graph is read: the loop then publishes that run as if it were its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from executor_lambda.gil_probe import GilProbe
from executor_lambda.task_warnings import TaskWarning, recording


class Measures(NamedTuple):
    """What a measured task showed of how it uses the machine (None: not measured)."""

    cpu_share: float | None = None
    """How much of its time the function kept a CPU busy (see `CpuMeter`)."""
    gil_free: float | None = None
    """How much of its time it left the GIL free (see `GilProbe`)."""


NOT_MEASURED = Measures()


@dataclass(frozen=True)
class TaskRun:
    task: int
    start: float
    compute_seconds: float
    """Inside the task's function only, without deserializing it or its inputs."""
    value: Any = None
    error: Exception | None = None
    measures: Measures = NOT_MEASURED
    warnings: tuple[TaskWarning, ...] = ()
    """What it warned, in order (see `task_warnings`)."""

    @classmethod
    def of(cls, task: int, prepare: Callable[[], tuple[Callable[[dict], Any], dict]],
           probe: GilProbe | None = None) -> TaskRun:
        """Run `task`: `prepare` gives its node and inputs (by key); a failure in either is
        the task's, and so are the warnings either raises. With a `probe`, its CPU share
        and GIL-free share are measured."""
        start = time.time()
        with recording() as warned:
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
                return cls(task, start, 0.0, error=exc, warnings=tuple(warned))
        measures = Measures(meter.share(compute), gil_free) if meter else NOT_MEASURED
        return cls(task, start, compute, value, measures=measures, warnings=tuple(warned))


class CpuMeter:
    """Whether a task computes or mostly waits (a remote call, I/O, a sleep), from a few
    clock reads around it on the thread that runs it.

    Its share is the process's CPU time over the task's wall time less the time this thread
    waited, runnable, for a CPU (the kernel's run delay, `/proc/thread-self/schedstat`): the
    process's CPU time, so a task whose library computes in threads of its own does not look
    idle; less the run delay, so that neither a computing task starved of CPU on a crowded
    machine nor a sleeping one that waits for a CPU after it wakes is judged by the crowd.
    Where the run delay is unknown (not Linux) it counts as zero."""

    def __init__(self) -> None:
        self._cpu = time.process_time()
        self._delay = run_delay_seconds()

    def share(self, wall_seconds: float) -> float:
        own = wall_seconds - (run_delay_seconds() - self._delay)
        if own <= 0:
            return 1.0
        return max(0.0, min(1.0, (time.process_time() - self._cpu) / own))


def run_delay_seconds() -> float:
    """How long the calling thread has waited, runnable, for a CPU (0.0 if unknown)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
