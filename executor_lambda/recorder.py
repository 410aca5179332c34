"""Per-task events of one invocation, with I/O counted from the store's running totals.

Events are shipped with a step that may be the executor's last, before its marks, so the
client has every task's events once it has the results. An event not shipped yet can still
be amended, e.g. with the write of an output that was held at a fan-in.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace

from executor_lambda.events import ExecutorEvents, TaskEvent
from executor_lambda.invocation import Invocation
from executor_lambda.task_run import NOT_MEASURED, Measures
from executor_lambda.task_warnings import TaskWarning
from storage_manager import IOStats, Publish, dumps

Snapshot = tuple[float, int, int, int]


class TaskRecorder:
    def __init__(self, stats: IOStats, invocation: Invocation, started_at: float):
        self.stats = stats
        self.invocation = invocation
        self.started_at = started_at
        self.events: dict[int, TaskEvent] = {}
        self.shipped_shard_bytes: tuple[dict[int, int], dict[int, int]] = ({}, {})
        """The per-shard byte counts as of the last record shipped (read, written)."""
        self._warnings: dict[int, tuple[TaskWarning, ...]] = {}
        """Warnings of tasks not yet shipped, by task: part of their events."""

    def snapshot(self) -> Snapshot:
        s = self.stats
        return (s.seconds, s.round_trips, s.bytes_read, s.bytes_written)

    def warned(self, task: int, warnings: tuple[TaskWarning, ...]) -> None:
        """Ship `warnings` with the task's event, however often it is recorded."""
        if warnings:
            self._warnings[task] = warnings

    def record(self, task: int, start: float, compute: float, before: Snapshot,
               pending_round_trips: int = 0, output_bytes: int = 0,
               measures: Measures = NOT_MEASURED) -> None:
        """Record (or re-record) a task's event. An event shipped with its own publish
        counts that publish's round trips but not its time."""
        seconds, trips, read, written = self.since(before)
        self.events[task] = TaskEvent(
            task=task, start=start, end=time.time(), compute_seconds=compute,
            storage_seconds=seconds, round_trips=trips + pending_round_trips,
            bytes_read=read, bytes_written=written, output_bytes=output_bytes,
            cpu_share=measures.cpu_share, gil_free=measures.gil_free,
            warnings=self._warnings.get(task, ()),
        )

    def amend(self, task: int, before: Snapshot, pending_round_trips: int = 0) -> None:
        """Add the I/O since `before` to a recorded, unshipped event."""
        event = self.events.get(task)
        if event is None:
            return
        seconds, trips, read, written = self.since(before)
        self.events[task] = replace(
            event, end=time.time(), storage_seconds=event.storage_seconds + seconds,
            round_trips=event.round_trips + trips + pending_round_trips,
            bytes_read=event.bytes_read + read, bytes_written=event.bytes_written + written)

    def since(self, before: Snapshot) -> Snapshot:
        now = self.snapshot()
        return (now[0] - before[0], now[1] - before[1], now[2] - before[2],
                now[3] - before[3])

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
        publish.record_events(dumps(record))
        self.events, self._warnings = {}, {}
        return True


def _since(before: dict[int, int], now: dict[int, int]) -> dict[int, int]:
    return {shard: count - before.get(shard, 0) for shard, count in now.items()
            if count > before.get(shard, 0)}
