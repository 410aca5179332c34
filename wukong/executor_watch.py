"""Finds a job's executors that their platform ended without a word (AWS Lambda: a timeout,
running out of memory, a crash), from the records they leave (`executor_lambda.liveness`):
an invocation that recorded its start, never its end, and is past its deadline (by the job
shard's clock, plus `GRACE_MS` for its end record to arrive) is gone, and the job fails,
naming the task it started with. On the local platform the runtime reports such executors
itself, and nothing is recorded.
"""

from __future__ import annotations

from executor_lambda import ExecutorDied, TaskFailure
from executor_lambda.remote_traceback import RemoteTraceback
from storage_manager import JobStore, StreamId
from storage_manager.job_store import READ_BATCH
from storage_manager.protocol.running import entry_ms

GRACE_MS = 2000


class ExecutorWatch:
    def __init__(self, store: JobStore):
        self.store = store
        self._after: StreamId = "0-0"
        self._running: dict[str, tuple[int, int]] = {}
        """Invocations started and not ended: (first task, deadline in the shard's ms)."""

    def check(self) -> None:
        """Raise `ExecutorDied` (naming the task's key) for an invocation past its deadline."""
        self._read()
        if not self._running:
            return
        now = self.store.server_ms()
        for invocation, (task, deadline) in self._running.items():
            if now > deadline + GRACE_MS:
                message = (f"Executor {invocation} (invocation of task {task}) did not end "
                           f"by its deadline, {(now - deadline) / 1000:.1f} s ago: its "
                           "platform ended it (a timeout, running out of memory, or a crash).")
                failure = TaskFailure(ExecutorDied(message), RemoteTraceback(), invocation)
                raise failure.exception_for(self.store.graph.keys[task])

    def _read(self) -> None:
        """Every record since the last read."""
        while True:
            self._after, records = self.store.running_since(self._after)
            for entry_id, record in records:
                if record.ended:
                    self._running.pop(record.invocation, None)
                else:
                    self._running[record.invocation] = (record.task,
                                                        entry_ms(entry_id) + record.left_ms)
            if len(records) < READ_BATCH:
                return
