"""One executor step's writes and fan-in marks, in as few script calls as the shards allow."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

from storage_manager.chunking import SPREAD_BYTES, Buffer, chunk_count, manifest, split
from storage_manager.job_io import JobIO
from storage_manager.protocol import events
from storage_manager.protocol.job_log import LogEntry
from storage_manager.shards import LARGE_VALUE_BYTES
from storage_manager.signing import Signer


class MarkResult(NamedTuple):
    task: int
    claimed: bool
    inputs: dict[int, bytes]
    """Outputs of the task's other parents that live on the task's shard, up to
    `LARGE_VALUE_BYTES` each (not yet counted as read: the task that consumes them counts
    them). Chunked ones are manifests; larger ones the claimer reads itself."""
    holding: bool = False
    """Not complete, and the caller's tentative parents are now the fan-in's holders."""


class _ShardStep:
    """The operations of one step on one shard: plain SETs of large values, then a single
    call of the `step` script, in one pipeline."""

    __slots__ = ("args", "keys", "marks", "writes")

    def __init__(self, live_key: str):
        self.writes: list[tuple[str, Buffer]] = []
        self.keys: list[str] = [live_key]
        self.args: list[Any] = []
        self.marks: list[int] = []

    def extend(self, other: _ShardStep) -> None:
        self.writes += other.writes
        self.keys += other.keys[1:]
        self.args += other.args
        self.marks += other.marks

    def set(self, key: str, value: Buffer) -> None:
        if len(value) > LARGE_VALUE_BYTES:
            self.writes.append((key, value))
        else:
            self.keys.append(key)
            self.args += ("set", value)


class Publish:
    """One executor step: outputs and events first, then announcements and fan-in marks.

    Phase 1 (writes) always reaches Redis before phase 2 (marks, announcements): an output is
    written before anyone can be told it is there. When every operation is on one shard this
    is one pipeline (large SETs, then the script call), one round trip; otherwise one per
    shard per phase.
    """

    def __init__(self, store: JobIO):
        self._store = store
        self._steps: dict[tuple[int, int], _ShardStep] = {}

    def __bool__(self) -> bool:
        return bool(self._steps)

    @property
    def reaches_job_shard(self) -> bool:
        """Whether a step call goes to the job's shard (where its streams live) anyway."""
        job_shard = self._store.graph.job_shard
        return any(shard == job_shard for _, shard in self._steps)

    @property
    def signer(self) -> Signer:
        """What this step's records are signed with (the job's, see `signing`)."""
        return self._store.signer

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
        """Write an output; one of `SPREAD_BYTES` or more goes as a manifest plus chunks of
        at most the job's chunk size, placed from the task's own shard (see `chunking`)."""
        store, graph = self._store, self._store.graph
        shard, chunk_bytes = graph.output_shard(task), graph.locality.chunk_bytes
        head = data
        if len(data) >= SPREAD_BYTES:
            head = manifest(len(data), chunk_count(len(data), chunk_bytes))
            for index, piece in enumerate(split(data, chunk_bytes)):
                key, chunk_shard = store.keys.chunk(task, index), graph.chunk_shard(task, index)
                step = self._on(1, chunk_shard)
                step.writes.append((key, piece))
                step.keys += (key, store.keys.chunks)
                step.args.append("chunk")
                store.stats.written_to(chunk_shard, len(piece))
        self._on(1, shard).set(store.keys.output(task), head)
        store.stats.bytes_written += len(data)
        store.stats.written_to(shard, len(head))

    def record_events(self, data: bytes) -> None:
        """Ship events before this step's marks, so they are in when the results are."""
        step = self._on(1, self._store.graph.job_shard)
        step.keys.append(self._store.keys.events)
        step.args += ("xadd", 2, events.FIELD, data)

    def announce(self, kind: str, task: int, data: bytes = b"") -> None:
        """Tell the client about a result or an error, after this step's writes."""
        step = self._on(2, self._store.graph.job_shard)
        step.keys.append(self._store.keys.log)
        step.args += ("xadd", 6, *LogEntry(kind, task, data).fields())

    def mark(self, task: int, firm: Iterable[int] = (), tentative: Iterable[int] = (),
             held: Iterable[int] = (), hold: bool = False) -> None:
        """Mark parents done at fan-in `task`: `firm` ones (written) always, `tentative` ones
        (held here, unwritten) only if that completes the set. The call that completes it
        claims the task and returns the outputs of its other parents on the task's shard,
        except `held` (the caller has them). With `hold`, an incomplete set makes the
        tentative parents its holders, unless another parent holds already."""
        store, keys = self._store, self._store.keys
        firm, tentative, held = tuple(firm), tuple(tentative), tuple(held)
        step = self._on(2, store.graph.task_shard(task))
        step.keys += (keys.done(task), keys.claim(task), keys.holders(task))
        step.args += ("mark", len(firm), *firm, len(tentative), *tentative,
                      store.graph.waits_for[task], int(hold), len(held), *held)
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
            replies = self._store.run_step(shard, step.keys, step.args, step.writes)
            for task, reply in zip(step.marks, replies, strict=True):
                result = _mark_result(task, reply)
                if result.claimed:
                    self._store.leased.add(shard)
                if result.inputs:
                    self._store.stats.read_from(shard, sum(map(len, result.inputs.values())))
                results.append(result)
        return results


def _mark_result(task: int, reply: list) -> MarkResult:
    if reply[0] != 1:
        return MarkResult(task, False, {}, holding=reply[0] == 2)
    pairs = reply[1:]
    return MarkResult(task, True, {int(m): v for m, v in zip(pairs[::2], pairs[1::2],
                                                              strict=True)})
