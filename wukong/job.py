"""Run one job to its end from the client: start it, follow its log, fetch results, clean up.

The log is a Redis Stream read with blocking XREAD: no polling loop, and nothing is lost if
the client looks away. Results arrive as announcements; their values are fetched as they
are announced (one MGET per shard per read of the log), while the job goes on. The first
error ends the job and is re-raised with its original type.
Per-task events travel on a second stream: the job's progress (tasks done so far, logged and
passed to `on_progress`) and, at the end, its report. With `on_progress` the client blocks on
both streams, so progress is reported as it happens; without, it blocks on the log alone and
takes the events whenever it wakes (at least every `BLOCK_MS`) and at the end: woken by every
executor's events, the client of a 4,096-leaf tree made ~2,000 reads per job, CPU taken from
the executors on the same machine. At the end the events are the job's report, and
a job that succeeded also folds its tasks' compute times, CPU shares and output sizes into
the learned estimates (`LearnedEstimates`), which decide which leaves of later jobs start
together: cheap ones in batches, waiting ones in threaded batches, those whose large
outputs meet in groups.

Why a stream and not pub/sub: a blocking XREAD is woken by the server the moment an entry is
appended, as a subscriber is by PUBLISH, so pub/sub would not be faster; but a stream keeps
what was sent, so a client that subscribes late, reconnects or falls behind misses nothing, and
no fallback path is needed. Executors pay nothing extra: results, errors and events already
travel in the step's one script call, and no PUBLISH is added to the per-task hot path.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from executor_lambda import TaskFailure
from executor_lambda.events import ExecutorEvents, TaskEvent
from static_scheduler import (
    Batching,
    LearnedEstimates,
    group_leaves,
    start_batches,
    start_job,
    task_prefixes,
    threads_per_group,
)
from storage_manager import JobGraph, JobStore, loads
from storage_manager.code_origins import filename_of
from storage_manager.job_store import READ_BATCH
from wukong.cluster import LocalCluster
from wukong.config import scheduling_settings, setting
from wukong.report import JobReport, record

logger = logging.getLogger(__name__)

BLOCK_MS = 1000
EVENTS_GRACE_MS = 500


_warning_registries: defaultdict[str, dict] = defaultdict(dict)
"""What `warnings` registers per module, here per file a task's warning names: what the
"default" and "module" actions show once."""


class JobTimeout(TimeoutError):
    """The job ran longer than wukong.client.job-timeout."""


class JobRun:
    def __init__(self, cluster: LocalCluster, graph: JobGraph,
                 on_progress: Callable[[int, int], None] | None = None,
                 batching: Batching | None = None):
        self.cluster = cluster
        self.graph = graph
        self.store = JobStore(cluster.shards, graph)
        self.batching = batching or scheduling_settings(cluster.latency.invoke_seconds,
                                                        cluster.parallelism,
                                                        cluster.executor_cores)
        self.estimates = LearnedEstimates(cluster.shards.shards[0].client, cluster.function)
        self.submitted_at = 0.0
        self.on_progress = on_progress
        """Called with (tasks done, tasks in all) whenever executors report tasks done."""
        self.executors: list[ExecutorEvents] = []
        self.tasks_done = 0
        self._events_id: bytes | str = "0-0"

    def run(self) -> dict[int, Any]:
        """The values of the requested tasks, by task index."""
        self.submitted_at = time.time()
        graph = self.graph
        try:
            known = self.estimates.read()
            prefixes = task_prefixes(graph.keys)
            expected = [known.durations.get(p) for p in prefixes]
            threads = threads_per_group(graph, expected, [known.gil_free.get(p) for p in prefixes],
                                        self.batching.executor_cores)
            groups = group_leaves(graph, [known.output_bytes.get(p) for p in prefixes],
                                  -(-self.batching.parallelism // threads))
            start_job(self.store, self.cluster.invoker,
                      start_batches(graph, expected, self.batching, groups,
                                    [known.cpu_shares.get(p) for p in prefixes], threads))
            values = self._follow_log()
            values.update((t, graph.node(t)()) for t in graph.results & graph.data)
            self._collect_events()
            self.estimates.learn(known, prefixes, self.executors)
            return values
        finally:
            finished = time.time()
            self.store.cleanup()
            record(JobReport(graph.job_id, len(graph) - len(graph.data), self.submitted_at,
                             finished, tuple(self.executors), graph.keys, graph.dependencies,
                             self.store.stats))

    def _follow_log(self) -> dict[int, Any]:
        """Follow the job to its end; the results' values, each fetched as soon as it is
        announced, so fetching them overlaps with the executors still at work."""
        pending = set(self.graph.results - self.graph.data)
        values: dict[int, Any] = {}
        timeout = setting("client.job-timeout")
        deadline = self.submitted_at + float(timeout) if timeout else None
        last_id: bytes | str = "0-0"
        while pending:
            if self.on_progress is not None:
                entries, events = self.store.read_streams(last_id, self._events_id, BLOCK_MS)
                if events:
                    self._events_id = events[-1][0]
                    self._take_events([fields[b"data"] for _, fields in events])
            else:
                entries = self.store.read_log(last_id, BLOCK_MS)
                self._drain_events()
            if not entries:
                self.cluster.check_alive()
                if deadline is not None and time.time() > deadline:
                    raise JobTimeout(f"job {self.graph.job_id} exceeded "
                                     f"wukong.client.job-timeout ({timeout} s)")
            announced = []
            for entry_id, fields in entries:
                last_id = entry_id
                task = int(fields[b"task"])
                if fields[b"kind"] == b"error":
                    failure = TaskFailure.decode(fields[b"data"])
                    raise failure.exception_for(self.graph.keys[task])
                if task in pending:
                    pending.discard(task)
                    announced.append(task)
            if announced:
                fetched = self.store.fetch_outputs(announced)
                values.update((t, loads(v)) for t, v in fetched.items())
        return values

    def _take_events(self, blobs: list[bytes]) -> None:
        for blob in blobs:
            events: ExecutorEvents = loads(blob)
            self.executors.append(events)
            self.tasks_done += len(events.tasks)
            for event in events.tasks:
                self._warn(event)
        total = len(self.graph) - len(self.graph.data)
        logger.debug("job %s: %d of %d tasks done", self.graph.job_id, self.tasks_done, total)
        if self.on_progress is not None:
            self.on_progress(self.tasks_done, total)

    def _warn(self, event: TaskEvent) -> None:
        """Raise the task's warnings again here, through this process's filters, naming
        the task; by-value code is located in the file it came from."""
        key = self.graph.keys[event.task]
        for caught in event.warnings:
            filename = (filename_of(caught.code) if caught.code else None) or caught.filename
            for _ in range(caught.count):
                warnings.warn_explicit(f"{caught.message} (in task {key!r})", caught.category,
                                       filename, caught.lineno, module=caught.module,
                                       registry=_warning_registries[filename])

    def _drain_events(self) -> None:
        """Take the events in so far, a batch per read."""
        while True:
            self._events_id, blobs = self.store.read_events(self._events_id, None)
            if blobs:
                self._take_events(blobs)
            if len(blobs) < READ_BATCH:
                return

    def _collect_events(self) -> None:
        """Every executor ships its events before its last fan-in mark, so they are all in
        by now; the bounded wait only covers an executor lost after finishing its work."""
        expected = len(self.graph) - len(self.graph.data)
        block = None
        while self.tasks_done < expected:
            self._events_id, blobs = self.store.read_events(self._events_id, block)
            if not blobs:
                if block is not None:
                    break
                block = EVENTS_GRACE_MS
                continue
            self._take_events(blobs)
