"""A batched invocation's region as it runs: which of its tasks have run, and which are
ready here once a parent in the region finishes.

Every task of the region (see `Region`) can only run in this invocation, since no other
executor runs any of its parents: a fan-in in the region is ready as soon as its last
parent ran here, with no Redis call. Only edges that leave the region go through Redis.

The region grows by each batch the executor pulls from the job's work queue (`add`): each
batch brings its own region, the tasks only that batch's tasks make ready. A task some of
whose parents ran here before is never added (those parents marked it in Redis already), so
the regions of an invocation's batches are disjoint and each is complete on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Container, Iterable

from storage_manager import JobGraph
from storage_manager.region import Region


class BatchRegion:
    def __init__(self, graph: JobGraph, starts: Iterable[int], planned: bool = True):
        self.graph = graph
        self.tasks = Region(graph, starts).tasks
        self.left = len(self.tasks)
        """Tasks of the region that have not run yet."""
        self.waiting: dict[int, int] = {}
        """Region tasks some of whose parents ran here: how many have not yet."""
        self._needed: Counter[int] = Counter()
        """The inputs of the waiting tasks, each with how many of them read it."""
        self.planned = planned
        """The region is a planned batch's: what it makes ready outside runs elsewhere
        while it has tasks left. A pulled one's runs here first, depth first."""

    def add(self, starts: Iterable[int]) -> None:
        """Take in a batch pulled from the work queue, with its own region."""
        tasks = Region(self.graph, starts).tasks
        self.tasks |= tasks
        self.left += len(tasks)
        self.planned = False

    def __contains__(self, task: int) -> bool:
        return task in self.tasks

    def ready_after(self, task: int) -> list[int]:
        """`task` ran: the dependents in the region it completes. They run here."""
        if task not in self.tasks:
            return []
        self.left -= 1
        ready = []
        for dependent in self.graph.dependents[task]:
            if dependent in self.tasks:
                left = self.waiting.pop(dependent, None)
                if left is None:
                    left = self.graph.waits_for[dependent]
                    self._needed.update(self.graph.dependencies[dependent])
                if left > 1:
                    self.waiting[dependent] = left - 1
                else:
                    self._unneed(self.graph.dependencies[dependent])
                    ready.append(dependent)
        return ready

    def needed(self) -> Container[int]:
        """The inputs of the region's tasks still waiting for parents."""
        return self._needed

    def _unneed(self, inputs: Iterable[int]) -> None:
        needed = self._needed
        for dep in inputs:
            if needed[dep] > 1:
                needed[dep] -= 1
            else:
                del needed[dep]
