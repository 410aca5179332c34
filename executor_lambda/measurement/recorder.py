"""Per-task events of one invocation, with I/O counted from the store's running totals.

Events are shipped with a step that may be the executor's last, before its marks, so the
client has every task's events once it has the results. An event not shipped yet can still
be amended, e.g. with the write of an output that was held at a fan-in. With `Notices`, the
tasks' starts and first records are also told as they happen.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import NamedTuple

from executor_lambda.measurement.notices import Notices
from storage_manager import IOStats, Publish
from storage_manager.protocol import (
    NOTHING_PRINTED,
    ExecutorEvents,
    Invocation,
    Printed,
    TaskEvent,
    TaskWarning,
)


class Measures(NamedTuple):
    """What a measured task showed of how it uses the machine (None: not measured)."""

    cpu_share: float | None = None
    """How much of its time the function kept a CPU busy (see `CpuMeter`)."""
    gil_free: float | None = None
    """How much of its time it left the GIL free (see `GilProbe`)."""


NOT_MEASURED = Measures()


@dataclass(slots=True)
class Snapshot:
    """The store's I/O totals at one moment, or the difference of two."""

    seconds: float
    round_trips: int
    bytes_read: int
    bytes_written: int


@dataclass(slots=True)
class Timing:
    """What a task's event is recorded from."""

    start: float
    compute_seconds: float
    before: Snapshot
    """The I/O totals the task's own I/O is counted from."""
    output_bytes: int = 0
    measures: Measures = NOT_MEASURED


class TaskRecorder:
    def __init__(self, stats: IOStats, invocation: Invocation, started_at: float,
                 notices: Notices | None = None):
        self.stats = stats
        self.invocation = invocation
        self.started_at = started_at
        self.notices = notices
        """Told of each task's start and first record, for a client following the job."""
        self.events: dict[int, TaskEvent] = {}
        self.shipped_shard_bytes: tuple[dict[int, int], dict[int, int]] = ({}, {})
        """The per-shard byte counts as of the last record shipped (read, written)."""
        self._warnings: dict[int, tuple[TaskWarning, ...]] = {}
        """Warnings of tasks not yet shipped, by task: part of their events."""
        self._printed: dict[int, Printed] = {}
        """Output of tasks not yet shipped, by task: part of their events."""

    def snapshot(self) -> Snapshot:
        s = self.stats
        return Snapshot(s.seconds, s.round_trips, s.bytes_read, s.bytes_written)

    def since(self, before: Snapshot) -> Snapshot:
        s = self.stats
        return Snapshot(s.seconds - before.seconds, s.round_trips - before.round_trips,
                        s.bytes_read - before.bytes_read, s.bytes_written - before.bytes_written)

    def started(self, task: int) -> None:
        if self.notices is not None:
            self.notices.started(task)

    def ride(self, publish: Publish) -> None:
        """Let the notices due ship with `publish` (see `Notices.ride`)."""
        if self.notices is not None:
            self.notices.ride(publish)

    def close(self) -> None:
        """The invocation is over: no more notices."""
        if self.notices is not None:
            self.notices.close()

    def noted(self, task: int, warnings: tuple[TaskWarning, ...], printed: Printed) -> None:
        """Ship `warnings` and `printed` with the task's event, however often it is
        recorded."""
        if warnings:
            self._warnings[task] = warnings
        if printed:
            self._printed[task] = printed

    def record(self, task: int, timing: Timing, pending_round_trips: int = 0) -> None:
        """Record (or re-record) a task's event. An event shipped with its own publish
        counts that publish's round trips but not its time."""
        s, before, measures = self.stats, timing.before, timing.measures
        self.events[task] = TaskEvent(
            task=task, start=timing.start, end=time.time(),
            compute_seconds=timing.compute_seconds, storage_seconds=s.seconds - before.seconds,
            round_trips=s.round_trips - before.round_trips + pending_round_trips,
            bytes_read=s.bytes_read - before.bytes_read,
            bytes_written=s.bytes_written - before.bytes_written,
            output_bytes=timing.output_bytes, cpu_share=measures.cpu_share,
            gil_free=measures.gil_free, warnings=self._warnings.get(task, ()),
            printed=self._printed.get(task, NOTHING_PRINTED),
        )
        if self.notices is not None:
            self.notices.finished(task)

    def amend(self, task: int, before: Snapshot, pending_round_trips: int = 0) -> None:
        """Add the I/O since `before` to a recorded, unshipped event."""
        event = self.events.get(task)
        if event is None:
            return
        s = self.stats
        self.events[task] = event._replace(
            end=time.time(),
            storage_seconds=event.storage_seconds + (s.seconds - before.seconds),
            round_trips=event.round_trips + (s.round_trips - before.round_trips)
            + pending_round_trips,
            bytes_read=event.bytes_read + (s.bytes_read - before.bytes_read),
            bytes_written=event.bytes_written + (s.bytes_written - before.bytes_written))

    def flush(self, publish: Publish) -> bool:
        """Ship the recorded events with `publish`; False if there were none."""
        if not self.events:
            return False
        inv, stats = self.invocation, self.stats
        read, written = self.shipped_shard_bytes
        self.shipped_shard_bytes = (dict(stats.shard_bytes_read),
                                    dict(stats.shard_bytes_written))
        record = ExecutorEvents(inv.id, os.getpid(), inv.sent_at, self.started_at,
                                tuple(self.events.values()), inv.via,
                                _since(read, stats.shard_bytes_read),
                                _since(written, stats.shard_bytes_written))
        publish.record_events(record.encode(publish.signer))
        self.events, self._warnings, self._printed = {}, {}, {}
        return True


def _since(before: dict[int, int], now: dict[int, int]) -> dict[int, int]:
    return {shard: count - before.get(shard, 0) for shard, count in now.items()
            if count > before.get(shard, 0)}
