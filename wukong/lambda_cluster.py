"""`LambdaCluster`: the executor function deployed on AWS Lambda, as a `Cluster`, chosen by
`wukong.platform: aws`.

    dask.config.set({"wukong.platform": "aws", "wukong.aws.function": "wukong-executor",
                     "wukong.redis.urls": ["rediss://:TOKEN@HOST:6379"]})
    x.compute(scheduler="wukong")          # the leaves are Event invocations of the function

It starts nothing on this machine: the client invokes the function through boto3 (region
and credentials from boto3's usual chain, unless `wukong.aws.region` names the region; the
endpoint from `wukong.aws.endpoint-url` or `AWS_ENDPOINT_URL_LAMBDA`, e.g. a local runtime
that serves Lambda's APIs) and reaches the Redis servers of `wukong.redis.urls`. Batches of
at least `wukong.proxy.fanout-threshold` go to a KV proxy if one serves the function (one
started with `python -m kv_proxy serve --platform aws` beside Redis), else they are invoked
here. What it sends is signed with the deployment's key (`wukong.security.key-file`, which
`wukong deploy` wrote).
"""

from __future__ import annotations

import atexit
import math
import threading

from executor_lambda.platforms import InvokerSettings, make_invoker
from static_scheduler import to_task_graph
from storage_manager import ShardSet
from wukong.compute import compute
from wukong.config import redis_tls, setting
from wukong.key_files import client_signer
from wukong.settings_table import check_all

LAMBDA_MB_PER_VCPU = 1769
"""Lambda gives a function one vCPU per 1,769 MB of memory, up to six."""
MAX_VCPUS = 6
DEFAULT_CONCURRENCY = 1000
"""An account's default concurrency in a region: a function without reserved concurrency
runs at most this many executors at once."""


class LambdaCluster:
    platform = "aws"
    runtime_serves_queue = False
    keeps_reports = False
    """Reports stay in this process (`wukong.last_job()`)."""

    def __init__(self, function: str | None = None, redis_urls: list[str] | None = None, *,
                 region: str | None = None, endpoint_url: str | None = None):
        check_all()
        self.function = setting("aws.function", function)
        urls = list(redis_urls or setting("redis.urls") or [])
        if not urls:
            raise ValueError("wukong.platform is aws but wukong.redis.urls is empty: name the "
                             "Redis servers the function reaches (see docs/aws.md)")
        self.payload_limit = setting("runtime.payload-limit")
        self.memory_mb = setting("aws.memory")
        reserved = setting("aws.reserved-concurrency")
        self.concurrency = reserved if reserved is not None else DEFAULT_CONCURRENCY
        self.proxy_threshold = (setting("proxy.fanout-threshold")
                                if setting("proxy.enabled") else 0)
        self.signer = client_signer(self.function)
        self.shards = ShardSet(urls, self.signer, redis_tls())
        self.invoker = make_invoker(InvokerSettings(
            function=self.function, payload_limit=self.payload_limit,
            proxy_threshold=self.proxy_threshold, platform="aws",
            region=setting("aws.region", region),
            endpoint_url=setting("aws.endpoint-url", endpoint_url),
        ), self.shards)

    @property
    def parallelism(self) -> int:
        return self.concurrency

    @property
    def executor_cores(self) -> int:
        """Whole vCPUs of one executor at the function's memory (at least one)."""
        return max(1, min(MAX_VCPUS, math.floor(self.memory_mb / LAMBDA_MB_PER_VCPU)))

    @property
    def invoke_seconds(self) -> float:
        return 0.0

    @property
    def redis_urls(self) -> list[str]:
        return self.shards.urls

    def check_alive(self) -> None:
        """Lambda runs the executors; whether one ended without a word is the job's to find
        out (see `wukong.executor_watch`)."""

    def get(self, dsk, keys, callbacks=None, **kwargs):
        """A Dask get function bound to this cluster: `x.compute(scheduler=cluster.get)`."""
        return compute(self, to_task_graph(dsk, keys), keys, callbacks)

    def close(self) -> None:
        self.shards.close()

    def __repr__(self) -> str:
        return f"<LambdaCluster function={self.function} shards={len(self.shards)}>"


_lock = threading.Lock()
_clusters: dict[tuple, LambdaCluster] = {}


def lambda_cluster() -> LambdaCluster:
    """The cluster of the function, Redis servers, region and endpoint the settings name now,
    made once per process."""
    key = (setting("aws.function"), tuple(setting("redis.urls") or ()), setting("aws.region"),
           setting("aws.endpoint-url"), setting("proxy.enabled"),
           setting("proxy.fanout-threshold"), setting("runtime.payload-limit"),
           setting("aws.memory"), setting("aws.reserved-concurrency"),
           setting("security.key-file"), setting("security.sign-payloads"))
    with _lock:
        cluster = _clusters.get(key)
        if cluster is None:
            cluster = _clusters[key] = LambdaCluster()
            atexit.register(cluster.close)
        return cluster
