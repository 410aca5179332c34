"""Run one planned job to its end from the client: submit it, follow its log, fetch results,
collect its events, learn from them, clean up.

The log is a Redis Stream read with blocking XREAD: no polling loop, and nothing is lost if
the client looks away. Results arrive as announcements (`LogEntry`); their values are fetched
as they are announced (one MGET per shard per read of the log), while the job goes on. The
first error ends the job and is re-raised with its original type. While the log is quiet the
client checks that the cluster still runs and that no executor was ended without a word
(`ExecutorWatch`).

Per-task events travel on a second stream: the job's progress (tasks done so far, logged and
passed to `on_progress`, and the hooks of Dask's callbacks, `JobCallbacks`) and, at the end,
its report. Followed so (`on_progress`, or callbacks that watch tasks), the client blocks on
both streams, so progress is reported as it happens; else it blocks on the log alone and
takes the events whenever it wakes (at least every `BLOCK_MS`) and at the end, so executors'
events never wake it one by one. The warnings tasks raised are raised again here as their
events arrive (`task_warnings`), and what they printed is shown (`task_output`). A job that
succeeded folds its tasks' measurements into the learned estimates (`LearnedEstimates`)
that later jobs are planned from.

Why a stream and not pub/sub: a blocking XREAD is woken by the server the moment an entry is
appended, as a subscriber is by PUBLISH, so pub/sub would not be faster; but a stream keeps
what was sent, so a client that subscribes late, reconnects or falls behind misses nothing, and
no fallback path is needed. Executors pay nothing extra: results, errors and events already
travel in the step's one script call, and no PUBLISH is added to the per-task path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import redis

from executor_lambda import ExecutorDied, TaskFailure
from static_scheduler import Plan, submit
from storage_manager import (
    JobGone,
    JobStore,
    MissingOutput,
    ShardLost,
    StreamId,
    check_job_shards,
    loads,
)
from storage_manager.protocol import (
    CANCELLED,
    NOTHING_PRINTED,
    STOPPED,
    ExecutorEvents,
    LogEntry,
)
from wukong import cancellation, task_output
from wukong.callbacks import JobCallbacks
from wukong.cluster_protocol import Cluster
from wukong.config import setting
from wukong.executor_watch import ExecutorWatch
from wukong.measurement import JobReport, LearnedEstimates, record
from wukong.measurement.kept_reports import index_job, keep_report
from wukong.task_warnings import warn_again

logger = logging.getLogger(__name__)

BLOCK_MS = 1000
STORAGE_FAILURES = (ExecutorDied, MissingOutput, JobGone, ConnectionError, redis.RedisError)
"""Failures a lost shard may cause: reported as the shard's loss if one is lost."""
EVENTS_GRACE_MS = 500


class JobTimeout(TimeoutError):
    """The job ran longer than wukong.client.job-timeout (it is cancelled, see
    `wukong.cancellation`)."""


class JobRun:
    def __init__(self, cluster: Cluster, plan: Plan,
                 on_progress: Callable[[int, int], None] | None = None,
                 callbacks: JobCallbacks | None = None):
        self.cluster = cluster
        self.plan = plan
        self.graph = plan.graph
        self.store = JobStore(cluster.shards, plan.graph)
        self.watch = ExecutorWatch(self.store, cluster.invoker)
        self.submitted_at = 0.0
        self.on_progress = on_progress
        """Called with (tasks done, tasks in all) whenever executors report tasks done."""
        self.callbacks = callbacks if callbacks is not None and callbacks.per_task else None
        """Dask's callbacks that follow the job's tasks."""
        self.show_output = setting("output.show")
        self.keep_output = setting("output.keep")
        self.executors: list[ExecutorEvents] = []
        self.tasks_done = 0
        self._events_id: StreamId = "0-0"
        self._log_id: StreamId = "0-0"
        self.cancelled = False
        """`cancel` was called, or the log says the job is cancelled."""
        self._cancel_sent = self._stopped = False
        self._key_names: dict[int, list[str]] | None = None
        """What cleanup deletes, built while the job runs (`JobStore.key_names`)."""

    @property
    def job_id(self) -> str:
        return self.graph.job_id

    def cancel(self) -> None:
        """Cancel the job (from any thread): its `run` raises `JobCancelled`."""
        self.cancelled = True
        self._send_cancel()

    def _send_cancel(self) -> None:
        if not self._cancel_sent:
            self._cancel_sent = True
            cancellation.stop_executors(self.cluster, self.job_id)

    def _stop(self) -> None:
        """Stop the job's executors before cleanup (see `wukong.cancellation`)."""
        self._send_cancel()
        if not self._stopped:
            cancellation.await_stopped(self.cluster, self.store, self._log_id)

    def run(self) -> dict[int, Any]:
        """The values of the requested tasks, by task index."""
        self.submitted_at = time.time()
        graph, cluster = self.graph, self.cluster
        cancellation.started(self)
        try:
            if cluster.keeps_reports:
                index_job(cluster.shards, cluster.function, graph.job_id, graph.ttl_ms)
            try:
                submit(self.plan, self.store, cluster.invoker)
                self._key_names = self.store.key_names()  # while the executors start
                values = self._follow_log()
            except redis.RedisError as exc:
                self._blame_shards(exc)
                raise
            values.update((t, graph.node(t)()) for t in graph.results & graph.data)
            self._learn()
            return values
        except (KeyboardInterrupt, JobTimeout, cancellation.JobCancelled, ShardLost):
            self._stop()
            raise
        finally:
            cancellation.ended(self)
            finished = time.time()
            self.store.cleanup(self._key_names)
            report = JobReport(graph.job_id, len(graph) - len(graph.data), self.submitted_at,
                               finished, tuple(self.executors), graph.keys,
                               graph.dependencies, self.store.stats,
                               cluster.platform)
            record(report)
            if cluster.keeps_reports:
                self._keep(report)

    def _keep(self, report: JobReport) -> None:
        """Keep the report on the cluster, for `wukong report` (see `kept_reports`)."""
        keep_ms = min(int(setting("reports.keep-seconds") * 1000), self.graph.ttl_ms)
        try:
            keep_report(self.cluster.shards, self.cluster.function, report, keep_ms)
        except redis.RedisError as exc:
            logger.warning("job %s: its report could not be kept: %s", report.job_id, exc)

    def _follow_log(self) -> dict[int, Any]:
        """Follow the job to its end; the results' values, each fetched as soon as it is
        announced, so fetching them overlaps with the executors still at work."""
        pending = set(self.graph.results - self.graph.data)
        values: dict[int, Any] = {}
        timeout = setting("client.job-timeout")
        deadline = self.submitted_at + float(timeout) if timeout else None
        while pending:
            entries = self._read_log(self._log_id)
            if not entries:
                self.cluster.check_alive()
                check_job_shards(self.cluster.shards, self.job_id)
                self.watch.check()
                if deadline is not None and time.time() > deadline:
                    raise JobTimeout(f"job {self.graph.job_id} exceeded "
                                     f"wukong.client.job-timeout ({timeout} s)")
            announced = self._announced(entries, pending)
            if announced:
                signer, keys = self.store.signer, self.graph.keys
                fetched = {t: loads(v, signer, f"the result of task {keys[t]!r}")
                           for t, v in self.store.fetch_outputs(announced).items()}
                values.update(fetched)
                if self.callbacks is not None:
                    for task, value in fetched.items():
                        self.callbacks.fetched(keys[task], value)
        return values

    def _announced(self, entries: list[tuple[StreamId, LogEntry]], pending: set[int]
                   ) -> list[int]:
        """The pending results `entries` announce; the first error they carry is raised,
        and `JobCancelled` if the job is cancelled."""
        announced = []
        for entry_id, entry in entries:
            self._log_id = entry_id
            if entry.kind == CANCELLED:
                self.cancelled = True
                self._stopped = self._stopped or entry.data == STOPPED
            elif entry.is_error:
                key = self._key(entry.task)
                failure = TaskFailure.decode(entry.data, self.store.signer, key)
                error = failure.exception_for(key)
                if isinstance(error, STORAGE_FAILURES):
                    self._blame_shards(error)
                raise error
            elif entry.task in pending:
                pending.discard(entry.task)
                announced.append(entry.task)
        if self.cancelled:
            raise cancellation.JobCancelled(f"job {self.job_id} was cancelled")
        return announced

    def _blame_shards(self, cause: BaseException) -> None:
        """Raise `ShardLost` (from `cause`) if a shard lost the job: the first cause."""
        try:
            check_job_shards(self.cluster.shards, self.job_id)
        except ShardLost as lost:
            raise lost from cause

    def _key(self, task: int) -> object:
        """The Dask key of a task an error names; a refused invocation may name a task the
        job does not have (see `executor_lambda.handler.report_refusal`)."""
        if 0 <= task < len(self.graph):
            return self.graph.keys[task]
        return f"<task {task}, which job {self.graph.job_id} does not have>"

    def _read_log(self, last_id: StreamId) -> list[tuple[StreamId, LogEntry]]:
        """The log's next entries, waiting up to `BLOCK_MS`; the events in so far taken on
        the way (as they come, with `on_progress`)."""
        if self.on_progress is None and self.callbacks is None:
            entries = self.store.read_log(last_id, BLOCK_MS)
            self._events_id, blobs = self.store.events_so_far(self._events_id)
        else:
            entries, self._events_id, blobs = self.store.read_streams(
                last_id, self._events_id, BLOCK_MS)
        if blobs:
            self._take_events(blobs)
        return entries

    def _take_events(self, blobs: list[bytes]) -> None:
        keys = self.graph.keys
        for blob in blobs:
            events = ExecutorEvents.decode(blob, self.store.signer)
            if self.callbacks is not None:
                self.callbacks.take(events, keys)
            if not events.tasks:  # notices alone
                continue
            for event in events.tasks:
                if event.warnings:
                    warn_again(event, keys[event.task])
                if event.printed is not NOTHING_PRINTED and self.show_output:
                    task_output.show(event.printed, keys[event.task])
            self.executors.append(events if self.keep_output
                                  else task_output.without_output(events))
            self.tasks_done += len(events.tasks)
        total = len(self.graph) - len(self.graph.data)
        logger.debug("job %s: %d of %d tasks done", self.graph.job_id, self.tasks_done, total)
        if self.on_progress is not None:
            self.on_progress(self.tasks_done, total)

    def _learn(self) -> None:
        """Take the executors' last events and fold them into the learned estimates. The
        results are in hand by now: a shard lost meanwhile costs the report those events and
        the estimates this job's lesson, never the job."""
        try:
            self._collect_events()
            LearnedEstimates(self.cluster.shards.shards[0].client, self.cluster.function).learn(
                self.plan.estimates, self.plan.prefixes, self.executors)
        except redis.RedisError as exc:
            logger.warning("job %s: its last events or what it taught the estimates were "
                           "lost with a shard: %s", self.job_id, exc)

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
