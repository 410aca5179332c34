"""One run of a task's function: its value or the exception it raised, and its timing.

The task loop runs tasks this way, and so does the handler for a seeded invocation's first
task, before the job's graph is read: the loop then publishes that run as if it were its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskRun:
    task: int
    start: float
    compute_seconds: float
    """Inside the task's function only, without deserializing it or its inputs."""
    value: Any = None
    error: Exception | None = None

    @classmethod
    def of(cls, task: int, prepare: Callable[[], tuple[Callable[[dict], Any], dict]]
           ) -> TaskRun:
        """Run `task`: `prepare` gives its node and inputs (by key); a failure in either is
        the task's."""
        start = time.time()
        try:
            node, inputs = prepare()
            compute_start = time.perf_counter()
            value = node(inputs)
        except Exception as exc:
            return cls(task, start, 0.0, error=exc)
        return cls(task, start, time.perf_counter() - compute_start, value)
