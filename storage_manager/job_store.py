"""Everything a job reads and writes in Redis, in as few round trips as the shards allow: the
client's upload, log and events reads and cleanup, and the executors' reads of outputs (their
writes and marks are a `Publish`)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence

import redis

from storage_manager.chunk_reader import ChunkReader
from storage_manager.chunking import Buffer
from storage_manager.connections import redacted
from storage_manager.errors import JobGone, MissingOutput
from storage_manager.job_io import JobIO, run_step
from storage_manager.protocol import events
from storage_manager.protocol.job_log import LogEntry
from storage_manager.protocol.keys import JobKeys
from storage_manager.protocol.running import RunningRecord
from storage_manager.publish import Publish
from storage_manager.shards import LARGE_VALUE_BYTES, ShardSet, job_shard
from storage_manager.work_queue import push_queue

logger = logging.getLogger(__name__)

CLEANUP_BATCH = 1000
READ_BATCH = 512
"""Stream entries per XREAD: a reply of thousands of events keeps a shard's one thread from
every executor for milliseconds (long enough to look, to the local runtime's admission, like
executors that sleep)."""
DEFAULT_LOG_TTL_MS = 3_600_000
_EVENTS_FIELD = events.FIELD.encode()

StreamId = bytes | str
"""A stream entry's id, as Redis returns it ("0-0": before the first)."""


class JobStore(JobIO):
    """One job's view of the shards: used by the client, the executors and the runtime."""

    def publish(self) -> Publish:
        return Publish(self)

    # -- executors ---------------------------------------------------------------------------
    def fetch_outputs(self, tasks: Iterable[int], missing_ok: bool = False
                      ) -> dict[int, Buffer]:
        """Read outputs with one MGET per shard, then the chunks of any large ones (large
        values arrive in writable buffers). Bytes are counted as read by whoever consumes
        them, not here. An output not stored raises `MissingOutput`, or with `missing_ok`
        is left out."""
        by_shard: dict[int, list[int]] = defaultdict(list)
        for task in tasks:
            by_shard[self.graph.output_shard(task)].append(task)
        found: dict[int, Buffer] = {}
        for shard, group in by_shard.items():
            client = self.shards.shards[shard].values
            values = self.timed(client.mget, [self.keys.output(t) for t in group])
            for task, data in zip(group, values, strict=True):
                if data is None:
                    if missing_ok:
                        continue
                    raise MissingOutput(task)
                found[task] = data
                self.stats.read_from(shard, len(data))
        return self.resolve_chunks(found)

    def resolve_chunks(self, outputs: dict[int, Buffer]) -> dict[int, Buffer]:
        """`outputs` with every chunk manifest replaced by its value (see `ChunkReader`)."""
        return ChunkReader(self).resolve(outputs)

    def start_once(self, task: int) -> bool:
        """Mark `task` started; False if it was before (by any delivery). Raises `JobGone`."""
        keys = self.keys
        (first,) = self.run_step(self.graph.task_shard(task), [keys.live, keys.started(task)],
                                 ["once"])
        return first == 1

    def append_events(self, record: bytes) -> None:
        """Append a record to the job's events stream outside the executor's steps, from
        any thread: not counted in this store's I/O. Raises `JobGone` once the job is gone."""
        keys = self.keys
        reply = run_step(self.shards, self.graph.job_shard, [keys.live, keys.events],
                         [self.graph.ttl_ms, self.owner, LARGE_VALUE_BYTES, 0,
                          "xadd", 2, events.FIELD, record])
        if reply == -1:
            raise JobGone(keys.prefix)

    # -- the client ----------------------------------------------------------------------------
    def upload(self, graph_blob: bytes, queued: Sequence[int] = ()) -> None:
        """Store the graph once, with the work queue of `queued` tasks (see `work_queue`),
        and raise the live flag on every shard."""
        ttl = self.graph.ttl_ms
        for index, shard in enumerate(self.shards.shards):
            pipe = shard.client.pipeline(transaction=False)
            pipe.set(self.keys.live, b"1", px=ttl)
            if index == self.graph.job_shard:
                pipe.set(self.keys.graph, graph_blob, px=ttl)
                push_queue(pipe, self, queued)
            self.timed(pipe.execute)
        self.stats.bytes_written += len(graph_blob)
        self.stats.written_to(self.graph.job_shard, len(graph_blob))

    def read_streams(self, log_after: StreamId, events_after: StreamId, block_ms: int
                     ) -> tuple[list[tuple[StreamId, LogEntry]], StreamId, list[bytes]]:
        """New entries of the job's log, and the id to read the events stream on from with
        its new records, in one XREAD that waits up to `block_ms` for either: what the
        client follows while the job runs."""
        reply = self._xread({self.keys.log: log_after, self.keys.events: events_after},
                            block_ms)
        records = reply.get(self.keys.events, [])
        return (_log_entries(reply.get(self.keys.log, [])),
                records[-1][0] if records else events_after,
                [fields[_EVENTS_FIELD] for _, fields in records])

    def read_log(self, after: StreamId, block_ms: int) -> list[tuple[StreamId, LogEntry]]:
        """New entries of the job's log, waiting up to `block_ms` for one."""
        return _log_entries(self._xread({self.keys.log: after}, block_ms).get(self.keys.log, []))

    def read_events(self, last_id: StreamId, block_ms: int | None
                    ) -> tuple[StreamId, list[bytes]]:
        """Event records after `last_id`, at most `READ_BATCH`, and the id to read on from;
        `block_ms=None` returns at once."""
        entries = self._xread({self.keys.events: last_id}, block_ms).get(self.keys.events)
        if not entries:
            return last_id, []
        return entries[-1][0], [fields[_EVENTS_FIELD] for _, fields in entries]

    def events_so_far(self, last_id: StreamId) -> tuple[StreamId, list[bytes]]:
        """Every event record after `last_id` in the stream now, without waiting."""
        records: list[bytes] = []
        while True:
            last_id, batch = self.read_events(last_id, None)
            records += batch
            if len(batch) < READ_BATCH:
                return last_id, records

    def running_since(self, after: StreamId
                      ) -> tuple[StreamId, list[tuple[StreamId, RunningRecord]]]:
        """The job's running records after `after`, without waiting, and the id to read on
        from."""
        entries = self._xread({self.keys.running: after}, None).get(self.keys.running, [])
        return (entries[-1][0] if entries else after,
                [(entry_id, RunningRecord.decode(fields)) for entry_id, fields in entries])

    def server_ms(self) -> int:
        """The job shard's clock, in milliseconds since the epoch."""
        seconds, micros = self.shards.shards[self.graph.job_shard].client.time()
        return seconds * 1000 + micros // 1000

    def _xread(self, streams: dict[str, StreamId], block_ms: int | None) -> dict[str, list]:
        client = self.shards.shards[self.graph.job_shard].client
        reply = client.xread(streams, block=block_ms, count=READ_BATCH)
        return {name.decode(): entries for name, entries in reply or ()}

    def cleanup(self, names: dict[int, list[str]] | None = None) -> list[str]:
        """Delete every key of the job (`names`: `key_names()`, if built already); the live
        flag goes first on each shard, so guarded writes that arrive later are refused (and
        the chunk index read after it is final). A shard that cannot be reached is passed
        over, never raised for, so cleanup reaches every other shard and never hides the
        error that ended the job: the shards missed (URLs without passwords) are returned
        and logged; their keys expire with the TTL."""
        missed = []
        for index, shard_names in (names or self.key_names()).items():
            shard = self.shards.shards[index]
            try:
                self._cleanup_shard(shard.client, shard_names)
            except redis.RedisError as exc:
                missed.append(redacted(shard.url))
                logger.warning("job %s: could not clean up Redis shard %s (%s); its keys "
                               "there expire with their TTL", self.graph.job_id,
                               redacted(shard.url), exc)
        return missed

    def key_names(self) -> dict[int, list[str]]:
        """Every key the graph names, by shard (each shard, maybe with none): what cleanup
        deletes. It depends on the graph alone, so a client can build it while the job
        runs."""
        graph, keys = self.graph, self.keys
        names: dict[int, list[str]] = defaultdict(list)
        names[graph.job_shard] += [keys.graph, keys.log, keys.events, keys.running, keys.ready,
                                    keys.pulled, keys.tail_taken]
        for task in range(len(graph)):
            if task in graph.data:
                continue
            names[graph.output_shard(task)].append(keys.output(task))  # stored, or a checkpoint
            names[graph.task_shard(task)].append(keys.claim(task))
            if graph.recovery.task_retries.get(task) == 0:
                names[graph.task_shard(task)].append(keys.started(task))
            if graph.is_fan_in(task):
                names[graph.task_shard(task)] += [keys.done(task), keys.holders(task)]
        return {index: names.get(index, []) for index in range(len(self.shards))}

    def _cleanup_shard(self, client: redis.Redis, names: list[str]) -> None:
        keys = self.keys
        pipe = client.pipeline(transaction=False)
        pipe.unlink(keys.live)
        pipe.smembers(keys.chunks)
        batch = [*names, keys.chunks]
        for start in range(0, len(batch), CLEANUP_BATCH):
            pipe.unlink(*batch[start:start + CLEANUP_BATCH])
        chunks = sorted(pipe.execute()[1])
        for start in range(0, len(chunks), CLEANUP_BATCH):
            client.unlink(*chunks[start:start + CLEANUP_BATCH])


def _log_entries(entries: list) -> list[tuple[StreamId, LogEntry]]:
    return [(entry_id, LogEntry.decode(fields)) for entry_id, fields in entries]


def load_graph_blob(shards: ShardSet, job_id: str) -> bytes:
    """The serialized graph of a job; raises `JobGone` once the job was cleaned up."""
    client = shards.shards[job_shard(job_id, len(shards))].client
    blob = client.get(JobKeys(job_id).graph)
    if blob is None:
        raise JobGone(job_id)
    return blob


def append_log_for(shards: ShardSet, job_id: str, entry: LogEntry,
                   ttl_ms: int = DEFAULT_LOG_TTL_MS) -> None:
    """Append to a job's log knowing only its id (the platform reporting a dead executor)."""
    _append_for(shards, job_id, JobKeys(job_id).log, entry.fields(), ttl_ms)


def append_running_for(shards: ShardSet, job_id: str, record: RunningRecord,
                       ttl_ms: int = DEFAULT_LOG_TTL_MS) -> None:
    """Append to a job's running records knowing only its id (an executor as it starts)."""
    _append_for(shards, job_id, JobKeys(job_id).running, record.fields(), ttl_ms)


def _append_for(shards: ShardSet, job_id: str, stream: str, fields: tuple,
                ttl_ms: int) -> None:
    """Append to a stream on the job's shard, unless the job is gone."""
    keys = JobKeys(job_id)
    run_step(shards, job_shard(job_id, len(shards)), [keys.live, stream],
             [ttl_ms, "", LARGE_VALUE_BYTES, 0, "xadd", len(fields), *fields])
