"""Everything a job reads and writes in Redis, in as few round trips as the shards allow.

Writes go through the step script, guarded by the job's live flag, so once the client has
cleaned a job up, a straggling executor cannot leave keys behind. Large values are the
exception (copying them in and out of Lua costs Redis's single thread far more than the write
itself): they are SET on the same connection right before the guarded script call, in one
pipeline, and UNLINKed again if the script reports the job gone. An executor that dies between
the two can leave such a value behind, but only until its TTL. Every key carries the job's TTL.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis

from storage_manager.chunk_reader import ChunkReader
from storage_manager.chunking import Buffer
from storage_manager.errors import JobGone, MissingOutput
from storage_manager.job_graph import JobGraph
from storage_manager.keys import JobKeys
from storage_manager.publish import Publish
from storage_manager.shards import LARGE_VALUE_BYTES, ShardSet, job_shard

CLEANUP_BATCH = 1000
READ_BATCH = 512
"""Stream entries per XREAD: a reply of thousands of events kept a shard's one thread from
every executor for milliseconds (long enough to look, to the local runtime's admission, like
executors that sleep)."""
DEFAULT_LOG_TTL_MS = 3_600_000


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


class JobStore:
    """One job's view of the shards: used by the client, the executors and the runtime."""

    def __init__(self, shards: ShardSet, graph: JobGraph, owner: str = ""):
        self.shards = shards
        self.graph = graph
        self.owner = owner
        """Who claims fan-ins through this store: the executor's invocation id."""
        self.keys = JobKeys(graph.job_id)
        self.stats = IOStats()

    # -- shared plumbing -------------------------------------------------------------------
    def run_step(self, shard: int, keys: list[str], args: list[Any],
                 writes: Sequence[tuple[str, Buffer]] = ()) -> Any:
        """One call of the `step` script, after plain SETs of `writes` (large values) in the
        same pipeline; if the job is gone, unlinks them again and raises `JobGone`."""
        ttl = self.graph.ttl_ms
        replies = run_step(self.shards, shard, keys, [ttl, self.owner, LARGE_VALUE_BYTES, *args],
                           self.timed, writes)
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

    def publish(self) -> Publish:
        return Publish(self)

    # -- executors ---------------------------------------------------------------------------
    def fetch_outputs(self, tasks: Iterable[int]) -> dict[int, Buffer]:
        """Read outputs with one MGET per shard, then the chunks of any large ones (large
        values arrive in writable buffers). Bytes are counted as read by whoever consumes
        them, not here."""
        by_shard: dict[int, list[int]] = defaultdict(list)
        for task in tasks:
            by_shard[self.graph.output_shard(task)].append(task)
        found: dict[int, Buffer] = {}
        for shard, group in by_shard.items():
            client = self.shards.shards[shard].values
            values = self.timed(client.mget, [self.keys.output(t) for t in group])
            for task, data in zip(group, values, strict=True):
                if data is None:
                    raise MissingOutput(task)
                found[task] = data
                self.stats.read_from(shard, len(data))
        return self.resolve_chunks(found)

    def resolve_chunks(self, outputs: dict[int, Buffer]) -> dict[int, Buffer]:
        """`outputs` with every chunk manifest replaced by its value (see `ChunkReader`)."""
        return ChunkReader(self).resolve(outputs)

    # -- the client ----------------------------------------------------------------------------
    def upload(self, graph_blob: bytes) -> None:
        """Store the graph once and raise the live flag on every shard."""
        ttl = self.graph.ttl_ms
        for index, shard in enumerate(self.shards.shards):
            pipe = shard.client.pipeline(transaction=False)
            pipe.set(self.keys.live, b"1", px=ttl)
            if index == self.graph.job_shard:
                pipe.set(self.keys.graph, graph_blob, px=ttl)
            self.timed(pipe.execute)
        self.stats.bytes_written += len(graph_blob)
        self.stats.written_to(self.graph.job_shard, len(graph_blob))

    def read_streams(self, log_after: bytes | str, events_after: bytes | str,
                     block_ms: int) -> tuple[list, list]:
        """New entries of the job's log and of its events stream, in one XREAD that waits up
        to `block_ms` for either: what the client follows while the job runs."""
        reply = self._xread({self.keys.log: log_after, self.keys.events: events_after},
                            block_ms)
        return reply.get(self.keys.log, []), reply.get(self.keys.events, [])

    def read_log(self, after: bytes | str, block_ms: int) -> list:
        """New entries of the job's log, waiting up to `block_ms` for one."""
        return self._xread({self.keys.log: after}, block_ms).get(self.keys.log, [])

    def read_events(self, last_id: bytes | str, block_ms: int | None
                    ) -> tuple[bytes | str, list[bytes]]:
        """Event records after `last_id` and the id to read on from; `block_ms=None` returns
        at once."""
        entries = self._xread({self.keys.events: last_id}, block_ms).get(self.keys.events)
        if not entries:
            return last_id, []
        return entries[-1][0], [fields[b"data"] for _, fields in entries]

    def _xread(self, streams: dict[str, bytes | str], block_ms: int | None
               ) -> dict[str, list]:
        client = self.shards.shards[self.graph.job_shard].client
        reply = client.xread(streams, block=block_ms, count=READ_BATCH)
        return {name.decode(): entries for name, entries in reply or ()}

    def cleanup(self) -> None:
        """Delete every key of the job; the live flag goes first on each shard, so guarded
        writes that arrive later are refused (and the chunk index read after it is final)."""
        graph, keys = self.graph, self.keys
        names: dict[int, list[str]] = defaultdict(list)
        names[graph.job_shard] += [keys.graph, keys.log, keys.events]
        for task in range(len(graph)):
            if task in graph.data:
                continue
            if not graph.stays_local(task):
                names[graph.output_shard(task)].append(keys.output(task))
            if graph.is_fan_in(task):
                names[graph.task_shard(task)] += [keys.done(task), keys.claim(task),
                                                  keys.holders(task)]
        for index, shard in enumerate(self.shards.shards):
            pipe = shard.client.pipeline(transaction=False)
            pipe.unlink(keys.live)
            pipe.smembers(keys.chunks)
            batch = [*names.get(index, []), keys.chunks]
            for start in range(0, len(batch), CLEANUP_BATCH):
                pipe.unlink(*batch[start:start + CLEANUP_BATCH])
            chunks = sorted(pipe.execute()[1])
            for start in range(0, len(chunks), CLEANUP_BATCH):
                shard.client.unlink(*chunks[start:start + CLEANUP_BATCH])


def load_graph_blob(shards: ShardSet, job_id: str) -> bytes:
    """The serialized graph of a job; raises `JobGone` once the job was cleaned up."""
    client = shards.shards[job_shard(job_id, len(shards))].client
    blob = client.get(JobKeys(job_id).graph)
    if blob is None:
        raise JobGone(job_id)
    return blob


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


def append_log_for(shards: ShardSet, job_id: str, fields: dict[str, Any],
                   ttl_ms: int = DEFAULT_LOG_TTL_MS) -> None:
    """Append to a job's log knowing only its id (the runtime reporting a dead executor)."""
    keys = JobKeys(job_id)
    shard = job_shard(job_id, len(shards))
    pairs = [item for pair in fields.items() for item in pair]
    run_step(shards, shard, [keys.live, keys.log],
             [ttl_ms, "", LARGE_VALUE_BYTES, "xadd", len(pairs), *pairs])
