"""Notices of an invocation's tasks starting and finishing, shipped while it runs, for a client
whose Dask callbacks follow the job live (`JobGraph.notices`).

A task's event ships with the step that may be its executor's last (see `TaskRecorder`), so
a client would otherwise learn of an executor's tasks only as it ends. A notice is small
and separate. The notices gathered ship as one record of the job's events stream at most
every `INTERVAL` seconds, and not at all while nothing happened: with a step the executor
makes anyway, when it goes to the job's shard (`ride`), else from a thread of the
invocation's own, outside the executor's steps (never counted in its tasks' I/O). So a job
that asks for notices costs each executor at most one extra write per `INTERVAL`, and no
task a round trip; a task that runs long is known to have started within about
`INTERVAL`. The events still ship as before: a notice only tells the client sooner.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import redis

from storage_manager import JobGone, Publish
from storage_manager.protocol import ExecutorEvents, Invocation, Notice
from storage_manager.signing import Signer

logger = logging.getLogger(__name__)

INTERVAL = 0.1
"""Seconds between two records of notices of one executor, at most."""


class Notices:
    """Gathers notices and ships them from a thread of its own until `close`."""

    def __init__(self, ship: Callable[[bytes], None], invocation: Invocation,
                 started_at: float, signer: Signer):
        self._ship = ship
        self._signer = signer
        """What the records are signed with (the deployment's key)."""
        self._invocation = invocation
        self._started_at = started_at
        self._pending: list[Notice] = []
        self._shipped = 0.0
        """When notices last shipped (monotonic)."""
        self._finished: set[int] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notices", daemon=True)
        self._thread.start()

    def started(self, task: int) -> None:
        with self._lock:
            self._pending.append(Notice(task, False, time.time()))

    def finished(self, task: int) -> None:
        """Once per task, however often its event is recorded."""
        with self._lock:
            if task not in self._finished:
                self._finished.add(task)
                self._pending.append(Notice(task, True, time.time()))

    def ride(self, publish: Publish) -> None:
        """Add the pending notices to `publish`, if they are due and it goes to the job's
        shard anyway: they ship with no round trip of their own."""
        if not publish.reaches_job_shard:
            return
        pending = self._take_due()
        if pending:
            publish.record_events(self._record(pending))

    def close(self) -> None:
        """Stop shipping (what is pending is in the events the invocation shipped)."""
        self._closed.set()
        self._thread.join()

    def _take_due(self) -> list[Notice]:
        with self._lock:
            now = time.monotonic()
            if not self._pending or now - self._shipped < INTERVAL:
                return []
            pending, self._pending, self._shipped = self._pending, [], now
        return pending

    def _record(self, pending: list[Notice]) -> bytes:
        inv = self._invocation
        return ExecutorEvents(inv.id, os.getpid(), inv.sent_at, self._started_at, (), inv.via,
                              notices=tuple(pending)).encode(self._signer)

    def _run(self) -> None:
        while not self._closed.wait(INTERVAL):
            pending = self._take_due()
            if not pending:
                continue
            try:
                self._ship(self._record(pending))
            except (JobGone, redis.RedisError) as exc:
                logger.debug("notices of %s stop: %r", self._invocation.id, exc)
                return
