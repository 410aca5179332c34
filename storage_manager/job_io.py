"""One job's connection to the shards: what every reader and writer of the job's keys shares.

Writes go through the `step` script, guarded by the job's live flag, so once the client has
cleaned a job up, a straggling executor cannot leave keys behind. Large values are the
exception (copying them in and out of Lua costs Redis's single thread far more than the write
itself): they are SET on the same connection right before the guarded script call, in one
pipeline, and UNLINKed again if the script reports the job gone. An executor that dies between
the two can leave such a value behind, but only until its TTL. Every key carries the job's TTL.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from storage_manager.chunking import Buffer
from storage_manager.errors import JobGone
from storage_manager.job_graph import JobGraph
from storage_manager.protocol.keys import JobKeys
from storage_manager.shards import LARGE_VALUE_BYTES, ShardSet
from storage_manager.signing import Signer


@dataclass
class IOStats:
    """Running totals of this process's traffic with Redis for one job.

    `bytes_read` counts inputs as their tasks consume them; the per-shard counts are values
    as they cross the wire (outputs, chunks, manifests, the graph), by shard: what each
    shard received (`shard_bytes_written`) and sent (`shard_bytes_read`)."""

    round_trips: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0
    shard_bytes_read: dict[int, int] = field(default_factory=dict)
    shard_bytes_written: dict[int, int] = field(default_factory=dict)

    def read_from(self, shard: int, size: int) -> None:
        self.shard_bytes_read[shard] = self.shard_bytes_read.get(shard, 0) + size

    def written_to(self, shard: int, size: int) -> None:
        self.shard_bytes_written[shard] = self.shard_bytes_written.get(shard, 0) + size


class JobIO:
    """A job's shards, graph and key names, the I/O totals of this process for it, and its
    guarded step calls."""

    def __init__(self, shards: ShardSet, graph: JobGraph, owner: str = ""):
        self.shards = shards
        self.graph = graph
        self.owner = owner
        """Who claims fan-ins through this store: the executor's delivery (see
        `protocol.delivery`)."""
        self.leased: set[int] = set()
        """The shards where the delivery claimed, so holds its lease (see `claims`)."""
        self.keys = JobKeys(graph.job_id)
        self.stats = IOStats()

    @property
    def signer(self) -> Signer:
        """What the job's values are signed and checked with (see `signing`)."""
        return self.shards.signer

    def run_step(self, shard: int, keys: list[str], args: list[Any],
                 writes: Sequence[tuple[str, Buffer]] = ()) -> Any:
        """One call of the `step` script, after plain SETs of `writes` (large values) in the
        same pipeline; if the job is gone, unlinks them again and raises `JobGone`."""
        ttl = self.graph.ttl_ms
        replies = run_step(self.shards, shard, keys,
                           [ttl, self.owner, LARGE_VALUE_BYTES, self.graph.recovery.lease_ms,
                            *args], self.timed, writes)
        if replies == -1:
            if writes:
                self.timed(self.shards.shards[shard].client.unlink, *(k for k, _ in writes))
            raise JobGone(self.keys.prefix)
        return replies

    def timed(self, call, *args):
        """Call, counting one round trip and its time (thread-safe enough: the sums are
        only read once a step is over)."""
        start = time.perf_counter()
        try:
            return call(*args)
        finally:
            self.stats.seconds += time.perf_counter() - start
            self.stats.round_trips += 1


def run_step(shards: ShardSet, shard: int, keys: list[str], args: list[Any],
             call=lambda f, *a: f(*a), writes: Sequence[tuple[str, Buffer]] = ()) -> Any:
    """The `step` script's reply; `writes` are SET (ttl: `args[0]`) just before it, in one
    round trip. Reloads the script once if the shard forgot it (NOSCRIPT)."""
    target = shards.shards[shard]
    for attempt in (0, 1):
        try:
            if not writes:
                return call(target.client.evalsha, target.sha["step"], len(keys), *keys, *args)
            pipe = target.client.pipeline(transaction=False)
            for key, value in writes:
                pipe.set(key, value, px=args[0])
            pipe.evalsha(target.sha["step"], len(keys), *keys, *args)
            return call(pipe.execute)[-1]
        except redis.exceptions.NoScriptError:
            if attempt:
                raise
            target.load_scripts()
    raise AssertionError("unreachable")
