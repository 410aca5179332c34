"""A seeded invocation's first task, run from its seed while the job's graph is read.

The task loop takes the outcome as if it had run the task itself: a value to publish, or an
exception to report, both once the graph is there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from storage_manager import GraphSeed


@dataclass(frozen=True)
class FirstTask:
    task: int
    start: float
    compute_seconds: float
    value: Any = None
    error: Exception | None = None

    @classmethod
    def run(cls, seed: GraphSeed, on_task: Callable[[int], None] | None = None) -> FirstTask:
        if on_task is not None:
            on_task(seed.task)
        start = time.time()
        try:
            node, inputs = seed.node_and_inputs()
            compute_start = time.perf_counter()
            value = node(inputs)
        except Exception as exc:
            return cls(seed.task, start, 0.0, error=exc)
        return cls(seed.task, start, time.perf_counter() - compute_start, value)
