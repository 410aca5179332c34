"""What an executor process keeps while it is warm: Redis connections, an invoker, graphs,
a thread that reads a graph while a seeded invocation's first task runs, the threads that
run the tasks of invocations that run several at once, and the hook that records the
warnings tasks raise.

Created on the first invocation from environment variables, as a Lambda function is
configured (`wukong deploy` sets them), and reused by every invocation the process serves
afterwards. `WUKONG_PLATFORM=aws` makes the executor start others through AWS Lambda's Invoke
API; otherwise through the local runtime's queue.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor

from executor_lambda.gil_probe import GilProbe
from executor_lambda.invocation import DEFAULT_PAYLOAD_LIMIT, PAYLOAD_KEY, Invocation
from executor_lambda.invokers import Invoker, ProxyInvoker, QueueInvoker
from executor_lambda.task_warnings import install as record_task_warnings
from storage_manager import JobGraph, ShardSet, load_graph_blob, loads
from storage_manager.payloads import read_spilled_payload

GRAPH_CACHE_SIZE = 8

ENV_REDIS_URLS = "WUKONG_REDIS_URLS"
ENV_FUNCTION = "WUKONG_FUNCTION"
ENV_PAYLOAD_LIMIT = "WUKONG_PAYLOAD_LIMIT"
ENV_INVOKE_SECONDS = "WUKONG_INVOKE_SECONDS"
"""The latency model's cost of one invocation to its caller (0: off)."""
ENV_PROXY_THRESHOLD = "WUKONG_PROXY_THRESHOLD"
"""The smallest fan-out handed to the KV proxy (unset or 0: no proxy)."""
ENV_PLATFORM = "WUKONG_PLATFORM"
"""Where the executor runs: `aws` (AWS Lambda), else the local runtime."""


class ExecutorEnvironment:
    def __init__(self, shards: ShardSet, invoker: Invoker):
        self.shards = shards
        self.invoker = invoker
        self._graphs: OrderedDict[str, JobGraph] = OrderedDict()
        self._loader: ThreadPoolExecutor | None = None
        self._task_pool: ThreadPoolExecutor | None = None
        self._task_threads = 0
        self.gil_probe = GilProbe()
        """Measures the tasks this process runs on its main thread (see `GilProbe`)."""
        record_task_warnings()

    @classmethod
    def from_environ(cls) -> ExecutorEnvironment:
        urls = [u for u in os.environ.get(ENV_REDIS_URLS, "").split(",") if u]
        if not urls:
            raise RuntimeError(f"{ENV_REDIS_URLS} is not set: the executor cannot find Redis")
        function = os.environ.get(ENV_FUNCTION, "wukong-executor")
        limit = int(os.environ.get(ENV_PAYLOAD_LIMIT, DEFAULT_PAYLOAD_LIMIT))
        shards = ShardSet(urls)
        if os.environ.get(ENV_PLATFORM) == "aws":
            from executor_lambda.platforms.aws.invoker import LambdaInvoker

            return cls(shards, LambdaInvoker(function, shards, payload_limit=limit))
        return cls(shards, make_invoker(shards.shards[0].client, function, limit,
                                        float(os.environ.get(ENV_INVOKE_SECONDS, 0)),
                                        int(os.environ.get(ENV_PROXY_THRESHOLD, 0))))

    def invocation(self, event: dict) -> Invocation:
        """The invocation an event carries; one passed by reference is read from Redis first
        (raises `JobGone` once its job was cleaned up)."""
        key = event.get(PAYLOAD_KEY)
        if key is not None:
            event = json.loads(read_spilled_payload(self.shards, event["job"], key))
        return Invocation.from_event(event)

    def graph(self, job_id: str) -> JobGraph:
        """The job's graph, loaded once per warm process (one GET, then from memory)."""
        graph = self._graphs.get(job_id)
        if graph is None:
            graph = loads(load_graph_blob(self.shards, job_id))
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
        """Threads for tasks that run at once, kept warm (starting one costs ~0.1 ms); a
        larger pool replaces a smaller one."""
        if self._task_pool is None or self._task_threads < threads:
            if self._task_pool is not None:
                self._task_pool.shutdown(wait=False)
            self._task_pool = ThreadPoolExecutor(threads, thread_name_prefix="task")
            self._task_threads = threads
        return self._task_pool


def make_invoker(client, function: str, payload_limit: int, invoke_seconds: float,
                 proxy_threshold: int) -> Invoker:
    """Direct invocation, through the KV proxy for batches of `proxy_threshold` or more (0:
    never)."""
    direct = QueueInvoker(client, function, payload_limit, invoke_seconds)
    return ProxyInvoker(direct, proxy_threshold) if proxy_threshold > 0 else direct
