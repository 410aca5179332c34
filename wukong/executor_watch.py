"""Finds a job's executors that their platform ended without a word (AWS Lambda: a timeout,
running out of memory, a crash), from the records they leave (`executor_lambda.liveness`),
and delivers their invocations again.

A delivery that recorded its start, never its end, and is past its deadline (by the job
shard's clock, plus `GRACE_MS` for its end record to arrive) is gone. Its invocation is
invoked again through the cluster's invoker with `attempt + 1`, from the payload its start
recorded, up to the invocation's `retries`, naming the dead delivery by its run after those
it replaced (`Invocation.replaces`); the new delivery takes over what they claimed, and
nothing a duplicate holds (see `executor_lambda.delivery`). A retry that never starts is lost
too, by the dead one's time left. Once the retries are spent, the job fails with
`ExecutorDied` naming the task, the attempts and each cause. On the local platform the
runtime retries and reports such executors itself, and nothing is recorded.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass

from executor_lambda import ExecutorDied, TaskFailure
from executor_lambda.platforms import Invoker
from executor_lambda.remote_traceback import RemoteTraceback
from storage_manager import JobStore, StreamId
from storage_manager.job_store import READ_BATCH
from storage_manager.protocol import Invocation
from storage_manager.protocol.running import RunningRecord, entry_ms
from storage_manager.signing import Unauthenticated

logger = logging.getLogger(__name__)

GRACE_MS = 2000


@dataclass
class _Delivery:
    invocation: str
    task: int
    deadline: int
    """In the job shard's milliseconds."""
    left_ms: int
    attempt: int
    payload: bytes
    run: str
    """The delivery's nonce (empty for a retry not started yet)."""


class ExecutorWatch:
    def __init__(self, store: JobStore, invoker: Invoker | None = None):
        self.store = store
        self.invoker = invoker
        """Delivers lost invocations again; None: a lost one fails the job at once."""
        self._after: StreamId = "0-0"
        self._running: dict[str, _Delivery] = {}
        """Deliveries started and not ended, by their run token; awaited retries, by
        'retry:' and the invocation's id."""
        self._retried: dict[str, int] = {}
        """The last attempt made of each invocation delivered again."""
        self._causes: dict[str, list[str]] = {}

    def check(self) -> None:
        """Deliver again each invocation whose delivery is past its deadline; raise
        `ExecutorDied` (naming the task's key) once one's retries are spent."""
        self._read()
        if not self._running:
            return
        now = self.store.server_ms()
        for run, lost in list(self._running.items()):
            if now > lost.deadline + GRACE_MS:
                del self._running[run]
                self._lost(lost, now)

    def _lost(self, lost: _Delivery, now: int) -> None:
        if lost.attempt < self._retried.get(lost.invocation, 0):
            return  # delivered again already
        causes = self._causes.setdefault(lost.invocation, [])
        causes.append(f"attempt {lost.attempt + 1} did not end by its deadline, "
                      f"{(now - lost.deadline) / 1000:.1f} s ago")
        invocation = self._invocation(lost.payload)
        if self.invoker is not None and invocation is not None \
                and lost.attempt < invocation.retries:
            retry = invocation.retry(lost.run)
            logger.info("job %s: %s was lost; delivering it again (attempt %d)",
                        self.store.graph.job_id, invocation.describe(), retry.attempt + 1)
            self.invoker.invoke([retry])
            self._retried[lost.invocation] = retry.attempt
            self._running["retry:" + lost.invocation] = dataclasses.replace(
                lost, deadline=now + lost.left_ms, attempt=retry.attempt, run="",
                payload=retry.encode(self.store.signer, limit=None))
            return
        listed = "; ".join(causes)
        message = (f"Executor {lost.invocation} (invocation of task {lost.task}) did not end "
                   "by its deadline: its platform ended it (a timeout, running out of memory, "
                   f"or a crash). It was delivered {len(causes)} times ({listed}).")
        failure = TaskFailure(ExecutorDied(message), RemoteTraceback(), lost.invocation)
        raise failure.exception_for(self.store.graph.keys[lost.task])

    def _invocation(self, payload: bytes) -> Invocation | None:
        if not payload:
            return None
        try:
            return Invocation.from_event(json.loads(payload), self.store.signer)
        except (ValueError, Unauthenticated):
            logger.warning("a lost delivery's payload could not be read", exc_info=True)
            return None

    def _read(self) -> None:
        """Every record since the last read."""
        while True:
            self._after, records = self.store.running_since(self._after)
            for entry_id, record in records:
                self._record(entry_id, record)
            if len(records) < READ_BATCH:
                return

    def _record(self, entry_id: StreamId, record: RunningRecord) -> None:
        run = record.run or record.invocation
        if record.ended:
            self._running.pop(run, None)
            return
        awaited = self._running.get("retry:" + record.invocation)
        if awaited is not None and record.attempt >= awaited.attempt:
            del self._running["retry:" + record.invocation]
        self._running[run] = _Delivery(record.invocation, record.task,
                                       entry_ms(entry_id) + record.left_ms, record.left_ms,
                                       record.attempt, record.payload, record.run)
