"""One delivery of an invocation: its claims on the tasks it starts with, and its lease.

A platform may deliver an invocation twice, and retries one whose delivery died. Before any
task runs, a delivery names itself (`protocol.delivery.owner`, with a nonce of its own) and
claims its start tasks (`claim_starts`); it runs only those it got, so a duplicate does
nothing, and a retry takes over what the deliveries it replaces claimed (see
`lua/step.lua`), never what a live duplicate holds. While it runs, a daemon thread refreshes
its lease on every shard where it claimed (fan-ins it claims later included), every third of
the lease; when it ends normally (its tasks' failures included) the lease gets the job's
TTL, "done", so a late duplicate is refused for the job's life. A delivery that raises, dies
or is frozen lets its lease run out, and its claims may be taken over. The start claims are
the delivery's one round trip before its first task; the rest rides on the steps it makes
anyway, or happens on the refresher's thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator

import redis

from storage_manager import ShardSet
from storage_manager.claims import claim_starts
from storage_manager.protocol import Invocation, JobKeys
from storage_manager.protocol.delivery import owner as delivery_owner

logger = logging.getLogger(__name__)


class Delivery:
    def __init__(self, shards: ShardSet, invocation: Invocation, owner: str,
                 leased: set[int], ttl_ms: int, lease_ms: int):
        self.shards = shards
        self.invocation = invocation
        """The invocation, narrowed to the start tasks this delivery holds."""
        self.owner = owner
        self.leased = leased
        """Shards where it holds its lease; the job's store adds those of fan-ins it claims."""
        self.ttl_ms = ttl_ms
        self.lease_ms = lease_ms
        self._key = JobKeys(invocation.job).lease(owner)
        self._stop = threading.Event()
        self.claim_round_trips = 0
        self.claim_seconds = 0.0
        """What claiming cost, for the job's I/O totals (counted with its first task)."""

    @classmethod
    def claim(cls, shards: ShardSet, invocation: Invocation, nonce: str, ttl_ms: int,
              lease_ms: int) -> Delivery | None:
        """A delivery (named with `nonce`, its own) holding what it could claim of
        `invocation`'s start tasks; None if it got none (another delivery holds them all).
        Raises `JobGone` if the job is."""
        owner = delivery_owner(invocation.id, invocation.attempt, nonce)
        calls: list[float] = []

        def timed(call, *args):
            start = time.perf_counter()
            try:
                return call(*args)
            finally:
                calls.append(time.perf_counter() - start)

        tasks, leased = claim_starts(shards, invocation.job, invocation.tasks, owner,
                                     invocation.handed_by, ttl_ms, lease_ms,
                                     invocation.replaces, timed)
        if not tasks:
            logger.debug("%s: its tasks are claimed by another delivery; nothing to do",
                         invocation.describe())
            return None
        if len(tasks) < len(invocation.tasks):
            invocation = dataclasses.replace(invocation, task=tasks[0], batch=tuple(tasks[1:]))
        delivery = cls(shards, invocation, owner, leased, ttl_ms, lease_ms)
        delivery.claim_round_trips, delivery.claim_seconds = len(calls), sum(calls)
        return delivery

    @contextlib.contextmanager
    def leased_while_running(self) -> Iterator[None]:
        """Refresh the lease during the block; "done" if the block returns."""
        refresher = threading.Thread(target=self._refresh, name="lease", daemon=True)
        refresher.start()
        try:
            yield
        except BaseException:
            self._stop.set()
            raise
        self._stop.set()
        refresher.join()
        self._expire_in(self.ttl_ms)

    def _refresh(self) -> None:
        while not self._stop.wait(self.lease_ms / 3000):
            self._expire_in(self.lease_ms)

    def _expire_in(self, ms: int) -> None:
        """Set the lease's time left on every shard it is on (where cleanup took it
        already, nothing is written)."""
        for shard in list(self.leased):
            try:
                self.shards.shards[shard].client.pexpire(self._key, ms)
            except redis.RedisError:  # a claim may be taken over: at least once, still
                logger.warning("could not refresh the lease of %s", self.owner, exc_info=True)
