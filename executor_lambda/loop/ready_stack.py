"""The tasks an executor will run next, last in first out, and the inputs they need."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from storage_manager import JobGraph


class ReadyStack:
    """Tasks to run here, last in first out, counting which inputs they need (so forgetting
    unneeded values costs nothing per task, however many leaves a batch starts with)."""

    def __init__(self, graph: JobGraph):
        self.dependencies = graph.dependencies
        self.tasks: list[int] = []
        self.needs: Counter[int] = Counter()
        """How many tasks on the stack need each input."""

    def __bool__(self) -> bool:
        return bool(self.tasks)

    def push(self, tasks: Iterable[int]) -> None:
        """Push `tasks` so that the first of them runs first."""
        for task in reversed(list(tasks)):
            self.tasks.append(task)
            self.needs.update(self.dependencies[task])

    def pop(self) -> int:
        task = self.tasks.pop()
        needs = self.needs
        for dependency in self.dependencies[task]:
            needs[dependency] -= 1
            if not needs[dependency]:
                del needs[dependency]
        return task
