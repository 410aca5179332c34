"""Fan-in marks held back while the executor has cheap work of its own.

A cheap task whose dependents outside the region are all fan-ins need not mark them at
once: while the executor has more to run here (or is about to pull more), the marks wait
in memory, with the outputs they would write. A fan-in all of whose parents then ran here
with their marks held is ready here, with no Redis call: in a tree whose subtrees one
executor pulls one after another, the subtrees meet in memory as a batch's tasks do. The
marks still held go out in one step when the executor has nothing to start (before it
waits or ends, or once a pull found the queue empty), with any step that marks the same
fan-in (`release`), or before the next task starts once the oldest has waited
`MOST_WAIT_SECONDS`. So a fan-in is claimed at most that long, plus one task's run, after
its mark would have gone.

Invariants: a held mark's task ran here and its value is kept here until the mark goes out
or its fan-in runs here; a fan-in is ready here only if every parent it waits for ran here
with its mark held (no other executor marked it, so none can claim it). An executor that
dies loses its held marks with its other work: its retry runs their tasks again, as it does
its tasks in flight (see `resumption`).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from storage_manager import JobGraph

MOST_WAIT_SECONDS = 0.005
"""Held marks whose oldest waited this long go out before the next task starts."""

CHEAP_SECONDS = 0.001
"""Only a task that computed for less than this holds its marks back."""


class DeferredMarks:
    def __init__(self, graph: JobGraph, clock: Callable[[], float] = time.monotonic):
        self.graph = graph
        self.clock = clock
        self.parents: dict[int, list[int]] = {}
        """Each fan-in with held marks: its parents that ran here, in the order they ran."""
        self._held: Counter[int] = Counter()
        """Each task with held marks: at how many fan-ins."""
        self._since = 0.0

    def __bool__(self) -> bool:
        return bool(self.parents)

    def __contains__(self, task: int) -> bool:
        """Whether `task` has marks held here (its value must be kept)."""
        return task in self._held

    def hold(self, task: int, fan_ins: list[int]) -> list[int]:
        """Hold `task`'s marks at `fan_ins`; the fan-ins this completes here, ready to run
        (their held marks are dropped: no one else needs them)."""
        if not self.parents:
            self._since = self.clock()
        waits_for, complete = self.graph.waits_for, []
        for fan_in in fan_ins:
            parents = self.parents.setdefault(fan_in, [])
            parents.append(task)
            self._held[task] += 1
            if len(parents) == waits_for[fan_in]:
                complete.append(fan_in)
                self._drop(fan_in)
        return complete

    def overdue(self) -> bool:
        """Whether the oldest held mark waited `MOST_WAIT_SECONDS` or more."""
        return bool(self.parents) and self.clock() - self._since >= MOST_WAIT_SECONDS

    def take(self) -> dict[int, list[int]]:
        """Every held mark, by fan-in; none are held any more."""
        parents, self.parents = self.parents, {}
        self._held.clear()
        return parents

    def release(self, fan_in: int) -> list[int]:
        """The parents whose marks at `fan_in` are held, no longer held: a step that marks
        `fan_in` anyway takes them along."""
        return self._drop(fan_in) if fan_in in self.parents else []

    def _drop(self, fan_in: int) -> list[int]:
        parents = self.parents.pop(fan_in)
        for parent in parents:
            self._held[parent] -= 1
            if not self._held[parent]:
                del self._held[parent]
        return parents
