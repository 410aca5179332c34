"""Everything a job reads and writes in Redis, in as few round trips as the shards allow.

Writes go through Lua scripts guarded by the job's live flag, so once the client has cleaned a
job up, a straggling executor cannot leave keys behind. Every key carries the job's TTL.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import redis

from storage_manager.job_graph import JobGraph
from storage_manager.keys import JobKeys
from storage_manager.shards import ShardSet, job_shard

CLEANUP_BATCH = 1000
DEFAULT_LOG_TTL_MS = 3_600_000


class JobGone(Exception):
    """The job was cleaned up (finished or failed elsewhere) while this executor still ran."""


class MissingOutput(LookupError):
    """An input that should be in Redis is not (expired, or deleted by cleanup)."""

    def __init__(self, task: int):
        super().__init__(task)
        self.task = task


@dataclass
class IOStats:
    """Running totals of this process's traffic with Redis for one job."""

    round_trips: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    seconds: float = 0.0


class MarkResult(NamedTuple):
    task: int
    claimed: bool
    inputs: dict[int, bytes]
    """Outputs of the task's other parents that live on the task's shard (not yet counted
    as read: the task that consumes them counts them)."""


class _ShardStep:
    """The operations of one step on one shard: a single call of the `step` script."""

    __slots__ = ("args", "keys", "marks")

    def __init__(self, live_key: str):
        self.keys: list[str] = [live_key]
        self.args: list[Any] = []
        self.marks: list[int] = []

    def extend(self, other: _ShardStep) -> None:
        self.keys += other.keys[1:]
        self.args += other.args
        self.marks += other.marks


class Publish:
    """One executor step: outputs and events first, then announcements and fan-in marks.

    Phase 1 (writes) always reaches Redis before phase 2 (marks, announcements): an output is
    written before anyone can be told it is there. When every operation is on one shard this
    is one script call, one round trip; otherwise one call per shard per phase.
    """

    def __init__(self, store: JobStore):
        self._store = store
        self._steps: dict[tuple[int, int], _ShardStep] = {}

    def __bool__(self) -> bool:
        return bool(self._steps)

    @property
    def round_trips(self) -> int:
        """How many script calls `execute` will make."""
        return 1 if len({shard for _, shard in self._steps}) == 1 else len(self._steps)

    def _on(self, phase: int, shard: int) -> _ShardStep:
        step = self._steps.get((phase, shard))
        if step is None:
            step = self._steps[phase, shard] = _ShardStep(self._store.keys.live)
        return step

    def write_output(self, task: int, data: bytes) -> None:
        store = self._store
        step = self._on(1, store.graph.output_shard(task))
        step.keys.append(store.keys.output(task))
        step.args += ("set", data)
        store.stats.bytes_written += len(data)

    def record_events(self, data: bytes) -> None:
        """Ship events before this step's marks, so they are in when the results are."""
        step = self._on(1, self._store.graph.job_shard)
        step.keys.append(self._store.keys.events)
        step.args += ("xadd", 2, "data", data)

    def announce(self, kind: str, task: int, data: bytes = b"") -> None:
        """Tell the client about a result or an error, after this step's writes."""
        step = self._on(2, self._store.graph.job_shard)
        step.keys.append(self._store.keys.log)
        step.args += ("xadd", 6, "kind", kind, "task", task, "data", data)

    def mark(self, task: int, parent: int, held: Iterable[int] = (),
             last_only: bool = False) -> None:
        """Record `parent` as done for fan-in `task`. The call that completes the set claims
        the task and returns the outputs of its parents on the task's shard, except `held`
        (those this executor has). With `last_only`, mark only if that completes the set."""
        store, keys = self._store, self._store.keys
        held = tuple(held)
        step = self._on(2, store.graph.task_shard(task))
        step.keys += (keys.done(task), keys.claim(task))
        step.args += ("mark", parent, store.graph.waits_for[task], int(last_only),
                      len(held), *held)
        step.marks.append(task)

    def execute(self) -> list[MarkResult]:
        steps, self._steps = self._steps, {}
        if len({shard for _, shard in steps}) == 1:
            ordered = sorted(steps.items())
            first = ordered[0][1]
            for _, later in ordered[1:]:
                first.extend(later)
            steps = {ordered[0][0]: first}
        results = []
        for (_, shard), step in sorted(steps.items()):
            replies = self._store.run_step(shard, step.keys, step.args)
            if replies == -1:
                raise JobGone(self._store.keys.prefix)
            for task, reply in zip(step.marks, replies, strict=True):
                results.append(_mark_result(task, reply))
        return results


def _mark_result(task: int, reply: list) -> MarkResult:
    if reply[0] != 1:
        return MarkResult(task, False, {})
    pairs = reply[1:]
    return MarkResult(task, True, {int(m): v for m, v in zip(pairs[::2], pairs[1::2],
                                                              strict=True)})


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
    def run_step(self, shard: int, keys: list[str], args: list[Any]) -> Any:
        """One call of the `step` script; reloads it once if the shard forgot it (NOSCRIPT)."""
        return run_step(self.shards, shard, keys, [self.graph.ttl_ms, self.owner, *args],
                        self._timed)

    def _timed(self, call, *args):
        start = time.perf_counter()
        try:
            return call(*args)
        finally:
            self.stats.seconds += time.perf_counter() - start
            self.stats.round_trips += 1

    def publish(self) -> Publish:
        return Publish(self)

    # -- executors ---------------------------------------------------------------------------
    def fetch_outputs(self, tasks: Iterable[int]) -> dict[int, bytes]:
        """Read outputs with one MGET per shard. Bytes are counted as read by whoever
        consumes them, not here."""
        by_shard: dict[int, list[int]] = defaultdict(list)
        for task in tasks:
            by_shard[self.graph.output_shard(task)].append(task)
        found: dict[int, bytes] = {}
        for shard, group in by_shard.items():
            client = self.shards.shards[shard].client
            values = self._timed(client.mget, [self.keys.output(t) for t in group])
            for task, data in zip(group, values, strict=True):
                if data is None:
                    raise MissingOutput(task)
                found[task] = data
        return found

    # -- the client ----------------------------------------------------------------------------
    def upload(self, graph_blob: bytes) -> None:
        """Store the graph once and raise the live flag on every shard."""
        ttl = self.graph.ttl_ms
        for index, shard in enumerate(self.shards.shards):
            pipe = shard.client.pipeline(transaction=False)
            pipe.set(self.keys.live, b"1", px=ttl)
            if index == self.graph.job_shard:
                pipe.set(self.keys.graph, graph_blob, px=ttl)
            self._timed(pipe.execute)
        self.stats.bytes_written += len(graph_blob)

    def read_log(self, last_id: bytes | str, block_ms: int) -> list[tuple[bytes, dict]]:
        """Notices after `last_id`, waiting up to `block_ms` for the first one."""
        return self._read(self.keys.log, last_id, block_ms)

    def read_events(self, last_id: bytes | str, block_ms: int | None
                    ) -> tuple[bytes | str, list[bytes]]:
        """Event records after `last_id` and the id to read on from; `block_ms=None` returns
        at once."""
        entries = self._read(self.keys.events, last_id, block_ms)
        if not entries:
            return last_id, []
        return entries[-1][0], [fields[b"data"] for _, fields in entries]

    def _read(self, stream: str, last_id: bytes | str, block_ms: int | None) -> list:
        client = self.shards.shards[self.graph.job_shard].client
        reply = client.xread({stream: last_id}, block=block_ms, count=100_000)
        return reply[0][1] if reply else []

    def cleanup(self) -> None:
        """Delete every key of the job; the live flag goes first on each shard, so guarded
        writes that arrive later are refused."""
        graph, keys = self.graph, self.keys
        names: dict[int, list[str]] = defaultdict(list)
        names[graph.job_shard] += [keys.graph, keys.log, keys.events]
        for task in range(len(graph)):
            if task in graph.data:
                continue
            if not graph.stays_local(task):
                names[graph.output_shard(task)].append(keys.output(task))
            if graph.is_fan_in(task):
                names[graph.task_shard(task)] += [keys.done(task), keys.claim(task)]
        for index, shard in enumerate(self.shards.shards):
            pipe = shard.client.pipeline(transaction=False)
            pipe.unlink(keys.live)
            batch = names.get(index, [])
            for start in range(0, len(batch), CLEANUP_BATCH):
                pipe.unlink(*batch[start:start + CLEANUP_BATCH])
            pipe.execute()


def load_graph_blob(shards: ShardSet, job_id: str) -> bytes:
    """The serialized graph of a job; raises `JobGone` once the job was cleaned up."""
    client = shards.shards[job_shard(job_id, len(shards))].client
    blob = client.get(JobKeys(job_id).graph)
    if blob is None:
        raise JobGone(job_id)
    return blob


def run_step(shards: ShardSet, shard: int, keys: list[str], args: list[Any],
             call=lambda f, *a: f(*a)) -> Any:
    target = shards.shards[shard]
    for attempt in (0, 1):
        try:
            return call(target.client.evalsha, target.sha["step"], len(keys), *keys, *args)
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
    run_step(shards, shard, [keys.live, keys.log], [ttl_ms, "", "xadd", len(pairs), *pairs])
