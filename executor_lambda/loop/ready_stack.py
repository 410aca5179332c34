"""The tasks an executor will run next, last in first out, and the inputs they need."""

from __future__ import annotations

from collections.abc import Iterable

from storage_manager import JobGraph


class ReadyStack:
    """Tasks to run here, last in first out, counting which inputs they need (so forgetting
    unneeded values costs nothing per task, however many leaves a batch starts with)."""

    def __init__(self, graph: JobGraph):
        self.dependencies = graph.dependencies
        self.tasks: list[int] = []
        self.needs: dict[int, int] = {}
        """How many tasks on the stack need each input (only inputs some task needs)."""

    def __bool__(self) -> bool:
        return bool(self.tasks)

    def push(self, tasks: Iterable[int]) -> None:
        """Push `tasks` so that the first of them runs first."""
        needs, dependencies = self.needs, self.dependencies
        for task in reversed(list(tasks)):
            self.tasks.append(task)
            for dependency in dependencies[task]:
                needs[dependency] = needs.get(dependency, 0) + 1

    def pop(self) -> int:
        task = self.tasks.pop()
        needs = self.needs
        for dependency in self.dependencies[task]:
            if needs[dependency] > 1:
                needs[dependency] -= 1
            else:
                del needs[dependency]
        return task
