"""What an executor process keeps while it is warm: Redis connections, an invoker, graphs,
the jobs cancelled meanwhile (`CancelWatch`), a thread that reads a graph while a seeded
invocation's first task runs, the threads that
run the tasks of invocations that run several at once, and the hooks that record the
warnings tasks raise and what they print.

Created on the first invocation from environment variables (`ExecutorSettings`), as a Lambda
function is configured (`wukong deploy` sets them), and reused by every invocation the
process serves afterwards. The platform they name is the one the executor starts others on.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

from executor_lambda.cancel_watch import CancelWatch
from executor_lambda.measurement import GilProbe
from executor_lambda.measurement.task_output import install as capture_task_output
from executor_lambda.measurement.task_warnings import install as record_task_warnings
from executor_lambda.platforms import Invoker, make_invoker, platform
from executor_lambda.settings import ExecutorSettings
from storage_manager import JobGraph, ShardSet, load_graph_blob, loads
from storage_manager.payloads import read_spilled_payload
from storage_manager.protocol import PAYLOAD_KEY, FunctionKeys, Invocation

GRAPH_CACHE_SIZE = 8


class ExecutorEnvironment:
    def __init__(self, shards: ShardSet, invoker: Invoker, records_itself: bool = False,
                 cancels: CancelWatch | None = None):
        self.shards = shards
        self.invoker = invoker
        self.cancels = cancels
        """The jobs cancelled while this process is warm (None: not told)."""
        self.records_itself = records_itself
        """Invocations record their start and end for their job (`liveness`): the platform
        reports no executor it ended."""
        self._graphs: OrderedDict[str, JobGraph] = OrderedDict()
        self._loader: ThreadPoolExecutor | None = None
        self._task_pool: ThreadPoolExecutor | None = None
        self._task_threads = 0
        self.gil_probe = GilProbe()
        """Measures the tasks this process runs on its main thread (see `GilProbe`)."""
        record_task_warnings()
        capture_task_output()

    @classmethod
    def from_environ(cls) -> ExecutorEnvironment:
        settings = ExecutorSettings.from_environ()
        shards = ShardSet(settings.redis_urls, settings.signer, settings.tls)
        settings.signer.count_refusals_in(shards.shards[0].client,
                                          FunctionKeys(settings.invoker.function).refused)
        reports = platform(settings.invoker.platform).REPORTS_LOST_EXECUTORS
        cancels = CancelWatch(shards.shards[0].client, settings.invoker.function)
        return cls(shards, make_invoker(settings.invoker, shards), records_itself=not reports,
                   cancels=cancels)

    def connect(self) -> None:
        """Connect to every shard now (redis-py connects on first use)."""
        for shard in self.shards.shards:
            shard.client.ping()

    def cancelled(self, job_id: str) -> bool:
        """The job was cancelled (as far as this process heard): no task of it starts."""
        return self.cancels is not None and self.cancels.cancelled(job_id)

    def invocation(self, event: dict) -> Invocation:
        """The invocation an event carries, its tag checked (`Unauthenticated` if it fails);
        one passed by reference is read from Redis first (raises `JobGone` once its job was
        cleaned up)."""
        signer = self.shards.signer
        if PAYLOAD_KEY in event:
            key = Invocation.check_reference(event, signer)
            event = json.loads(read_spilled_payload(self.shards, event["job"], key))
        return Invocation.from_event(event, signer)

    def graph(self, job_id: str) -> JobGraph:
        """The job's graph, loaded once per warm process (one GET, then from memory), its
        tag checked (`Unauthenticated` if it fails)."""
        graph = self._graphs.get(job_id)
        if graph is None:
            graph = loads(load_graph_blob(self.shards, job_id), self.shards.signer,
                          f"the graph of job {job_id!r}")
            self._graphs[job_id] = graph
            while len(self._graphs) > GRAPH_CACHE_SIZE:
                self._graphs.popitem(last=False)
        else:
            self._graphs.move_to_end(job_id)
        return graph

    def graph_later(self, job_id: str) -> Future[JobGraph]:
        """The job's graph, read by another thread unless it is in memory already."""
        if job_id in self._graphs:
            done: Future[JobGraph] = Future()
            done.set_result(self.graph(job_id))
            return done
        if self._loader is None:
            self._loader = ThreadPoolExecutor(1, thread_name_prefix="graph-loader")
        return self._loader.submit(self.graph, job_id)

    def task_pool(self, threads: int) -> ThreadPoolExecutor:
        """Threads for tasks that run at once, kept warm between invocations; a larger
        pool replaces a smaller one."""
        if self._task_pool is None or self._task_threads < threads:
            if self._task_pool is not None:
                self._task_pool.shutdown(wait=False)
            self._task_pool = ThreadPoolExecutor(threads, thread_name_prefix="task")
            self._task_threads = threads
        return self._task_pool
