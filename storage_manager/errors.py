"""What can go wrong with a job's data in Redis."""

from __future__ import annotations


class JobGone(Exception):
    """The job was cleaned up (finished or failed elsewhere) while this executor still ran."""


class MissingOutput(LookupError):
    """An input that should be in Redis is not (expired, or deleted by cleanup)."""

    def __init__(self, task: int):
        super().__init__(task)
        self.task = task
