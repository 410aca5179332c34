"""The jobs the local runtime was told to cancel (`storage_manager.protocol.cancel`).

A cancel record comes off the function's queue like an invocation. The dispatcher stops the
job's running executors, and drops its invocations waiting here or arriving later (an
executor may have invoked others just before it was stopped, a KV proxy may still hold a
batch): a job stays cancelled for `KEEP_SECONDS`, the longest a job's keys may live by
default. Invocations are parsed to find their job only while some job is cancelled.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict

from storage_manager.protocol import cancelled_job
from storage_manager.signing import Signer, Unauthenticated

logger = logging.getLogger(__name__)

KEEP_SECONDS = 3600.0
MOST_KEPT = 4096
"""Most cancelled jobs remembered at once (the oldest are forgotten first)."""


class Cancels:
    def __init__(self, signer: Signer):
        self.signer = signer
        self._lock = threading.Lock()
        self._new: list[str] = []
        """Cancelled, and not yet stopped by the dispatcher."""
        self._kept: OrderedDict[str, float] = OrderedDict()
        """Cancelled jobs, each with when it is forgotten (monotonic)."""

    def take(self, payload: bytes) -> bool:
        """Note the cancel record `payload` (from the intake thread); False if it is an
        invocation. A record with a wrong tag is logged and dropped."""
        try:
            job = cancelled_job(payload, self.signer)
        except Unauthenticated:
            return True
        if job is None:
            return False
        with self._lock:
            self._new.append(job)
            self._kept[job] = time.monotonic() + KEEP_SECONDS
            self._kept.move_to_end(job)
            while len(self._kept) > MOST_KEPT:
                self._kept.popitem(last=False)
        logger.info("job %s is cancelled", job)
        return True

    def take_new(self) -> list[str]:
        """The jobs cancelled since the last call, for the dispatcher to stop."""
        with self._lock:
            new, self._new = self._new, []
        return new

    def covers(self, payload: bytes) -> bool:
        """The invocation `payload` belongs to a cancelled job."""
        if not self._kept:
            return False
        now = time.monotonic()
        with self._lock:
            while self._kept and next(iter(self._kept.values())) <= now:
                self._kept.popitem(last=False)
            if not self._kept:
                return False
        try:
            job = json.loads(payload).get("job")
        except (ValueError, AttributeError):
            return False
        return job in self._kept
