"""The local region of a batched invocation: the tasks only its start tasks can make ready.

When one invocation starts several tasks (a batch of cheap leaves), every task whose parents
all lie in the region can only ever run in that invocation: no other executor runs any of
its parents, so none can claim it. Such a fan-in is ready here as soon as its last parent ran
here, with no Redis call; only edges that leave the region go through Redis.

The static scheduler grows a region leaf by leaf to decide what to batch, and the executor
computes the same region from its start tasks, so the region never travels in a payload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from storage_manager.job_graph import JobGraph


class Region:
    def __init__(self, graph: JobGraph, starts: Iterable[int] = ()):
        self.graph = graph
        self.tasks: set[int] = set()
        self.missing: dict[int, int] = {}
        """Parents not in the region yet, for dependents of region tasks outside it."""
        for start in starts:
            self.add(start)

    def __len__(self) -> int:
        return len(self.tasks)

    def add(self, start: int, allowed: Callable[[int], bool] | None = None) -> list[int] | None:
        """Take `start` and every task whose parents are then all in the region; those tasks,
        in the order found. With `allowed`, only if it allows each of them (else nothing
        changes and the answer is None)."""
        added, missing = self._grow(start)
        if allowed is not None and not all(map(allowed, added)):
            return None
        self.tasks.update(added)
        self.missing.update(missing)
        for task in added:
            self.missing.pop(task, None)
        return added

    def _grow(self, start: int) -> tuple[list[int], dict[int, int]]:
        graph, missing = self.graph, {}
        added, frontier = [], [start]
        while frontier:
            task = frontier.pop()
            added.append(task)
            for dependent in graph.dependents[task]:
                left = missing.get(dependent)
                if left is None:
                    left = self.missing.get(dependent, graph.waits_for[dependent])
                missing[dependent] = left - 1
                if left == 1:
                    frontier.append(dependent)
        return added, missing
