"""Run one job to its end from the client: start it, follow its log, fetch results, clean up.

The log is a Redis Stream read with blocking XREAD: no polling loop, and nothing is lost if
the client looks away. Results arrive as announcements; their values are fetched at the end
in one MGET per shard. The first error ends the job and is re-raised with its original type.
Per-task events travel on a second stream, read once at the end for the job's report.
"""

from __future__ import annotations

import time
from typing import Any

from executor_lambda import TaskFailure
from executor_lambda.events import ExecutorEvents
from static_scheduler import start_job
from storage_manager import JobGraph, JobStore, loads
from wukong.cluster import LocalCluster
from wukong.config import setting
from wukong.report import JobReport, record

BLOCK_MS = 1000
EVENTS_GRACE_MS = 500


class JobTimeout(TimeoutError):
    """The job ran longer than wukong.client.job-timeout."""


class JobRun:
    def __init__(self, cluster: LocalCluster, graph: JobGraph):
        self.cluster = cluster
        self.graph = graph
        self.store = JobStore(cluster.shards, graph)
        self.submitted_at = 0.0

    def run(self) -> dict[int, Any]:
        """The values of the requested tasks, by task index."""
        self.submitted_at = time.time()
        graph, executors = self.graph, ()
        try:
            start_job(self.store, self.cluster.invoker)
            self._follow_log()
            computed = self.store.fetch_outputs(graph.results - graph.data)
            values = {t: loads(v) for t, v in computed.items()}
            values.update((t, graph.node(t)()) for t in graph.results & graph.data)
            executors = self._collect_events()
            return values
        finally:
            finished = time.time()
            self.store.cleanup()
            record(JobReport(graph.job_id, len(graph) - len(graph.data), self.submitted_at,
                             finished, tuple(executors), graph.keys))

    def _follow_log(self) -> None:
        pending = set(self.graph.results - self.graph.data)
        timeout = setting("client.job-timeout")
        deadline = self.submitted_at + float(timeout) if timeout else None
        last_id: bytes | str = "0-0"
        while pending:
            entries = self.store.read_log(last_id, BLOCK_MS)
            if not entries:
                self.cluster.check_alive()
                if deadline is not None and time.time() > deadline:
                    raise JobTimeout(f"job {self.graph.job_id} exceeded "
                                     f"wukong.client.job-timeout ({timeout} s)")
            for entry_id, fields in entries:
                last_id = entry_id
                task = int(fields[b"task"])
                if fields[b"kind"] == b"error":
                    failure = TaskFailure.decode(fields[b"data"])
                    raise failure.exception_for(self.graph.keys[task])
                pending.discard(task)

    def _collect_events(self) -> list[ExecutorEvents]:
        """Every executor ships its events before its last fan-in mark, so they are all in
        by now; the bounded wait only covers an executor lost after finishing its work."""
        expected = len(self.graph) - len(self.graph.data)
        executors: list[ExecutorEvents] = []
        count, last_id, block = 0, "0-0", None
        while count < expected:
            last_id, blobs = self.store.read_events(last_id, block)
            if not blobs:
                if block is not None:
                    break
                block = EVENTS_GRACE_MS
                continue
            for blob in blobs:
                events: ExecutorEvents = loads(blob)
                executors.append(events)
                count += len(events.tasks)
        return executors
