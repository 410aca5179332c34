"""`LocalCluster`: Redis shards, the local runtime and the KV proxy, on this machine, as one
object; and which cluster a `compute` runs on.

    with wukong.LocalCluster(shards=2) as cluster:
        x.compute(scheduler="wukong")      # uses this cluster while the block runs

Everything the cluster started is stopped on `close()`, also after errors. Outside any such
block, `compute(scheduler="wukong")` runs on the cluster `wukong.connect()` connected to, else
on the one `wukong.address` names, else on a default LocalCluster it starts lazily and keeps
for the process.

Each cluster has secrets of its own: the passwords of its Redis servers' users, one per role
(see `redis_servers`), and the key everything its processes unpickle is signed with (see
`storage_manager.signing`). Its processes get them in their environment, and clients of
another process in its address (see `cluster_address`).

`wukong.platform: aws` chooses the function on AWS Lambda instead (see `LambdaCluster`), over
any `with` block.

With `wukong.runtime.lambda-api` the local runtime also serves AWS Lambda's Invoke and Runtime
APIs (`lambda_api_url`); its executors and its KV proxy invoke through that Invoke API, and a
client with `wukong.platform: aws` and `wukong.aws.endpoint-url` set to it runs jobs there as
on Lambda.
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import uuid
from collections.abc import Sequence

from executor_lambda.platforms import InvokerSettings, make_invoker
from executor_lambda.settings import ExecutorSettings
from kv_proxy import proxy_status
from static_scheduler import to_task_graph
from storage_manager import ShardSet
from storage_manager.connections import redacted
from storage_manager.protocol import FunctionKeys
from storage_manager.protocol.roles import ROLES
from storage_manager.signing import Signer
from wukong import active_clusters
from wukong.cluster_address import Address
from wukong.cluster_protocol import Cluster
from wukong.compute import compute
from wukong.config import keep_freed_bytes, redis_tls, setting, signing_enabled
from wukong.connected_cluster import ConnectedCluster
from wukong.redis_servers import ADMIN, RedisServer, RedisUsers, find_redis_server, free_port
from wukong.runtime_process import Latency, LocalRuntimeProcess, ProxyProcess
from wukong.settings_table import check, check_all

logger = logging.getLogger(__name__)

_default: LocalCluster | None = None
_connected: ConnectedCluster | None = None
"""The cluster `connect()` made this process's default."""
_by_address: dict[str, ConnectedCluster] = {}
"""The clusters `wukong.address` named, connected on first use."""


class LocalCluster:
    keeps_reports = False
    """Only this process reaches the cluster: reports stay in `wukong.last_job()`."""
    platform = "local"
    """Where its executors run: the cost of its jobs is an estimate."""
    runtime_serves_queue = True

    def __init__(self, shards: int | None = None, redis_urls: Sequence[str] | None = None, *,
                 concurrency: int | None = None, idle_timeout: float | None = None,
                 invocation_timeout: float | None = None, memory_limit: int | None = None,
                 function: str | None = None, preload: Sequence[str] | None = None,
                 lambda_api: bool | None = None):
        self.redis_servers: list[RedisServer] = []
        self._urls: dict[str, list[str]] = {}
        """The shards' URLs as each Redis user (`ADMIN` and the roles)."""
        self.runtime: LocalRuntimeProcess | None = None
        self.proxy: ProxyProcess | None = None
        self.shards: ShardSet | None = None
        check_all()
        urls = list(redis_urls or setting("redis.urls") or [])
        self.function = setting("runtime.function", function) or f"wukong-{uuid.uuid4().hex[:8]}"
        self.payload_limit = setting("runtime.payload-limit")
        self.concurrency = setting("runtime.concurrency", concurrency)
        timeout = setting("runtime.invocation-timeout", invocation_timeout)
        lambda_address = self._lambda_api(lambda_api)
        self.preload = preload_modules(setting("runtime.preload", preload))
        self.latency = Latency(setting("runtime.latency.invoke-seconds"),
                               setting("runtime.latency.cold-start-seconds"))
        self.log_level = setting("logging.level")
        self.proxy_threshold = (setting("proxy.fanout-threshold")
                                if setting("proxy.enabled") else 0)
        """The smallest batch handed to the proxy; 0: no proxy."""
        self.signer = Signer.generate() if signing_enabled() else Signer(None)
        if not self.signer.enabled:
            logger.warning("wukong.security.sign-payloads is false: this cluster unpickles "
                           "whatever reaches it through Redis (INSECURE; benchmarks only)")
        self.tls = redis_tls()
        invoker = InvokerSettings(
            function=self.function, payload_limit=self.payload_limit,
            invoke_seconds=self.latency.invoke_seconds, proxy_threshold=self.proxy_threshold)
        try:
            self._urls = self._start_redis(shards) if not urls else dict.fromkeys(
                (ADMIN, *ROLES), urls)
            self.shards = ShardSet(self._urls["client"], self.signer, self.tls)
            self.signer.count_refusals_in(self.shards.shards[0].client,
                                          FunctionKeys(self.function).refused)
            self.runtime = LocalRuntimeProcess(
                ExecutorSettings(tuple(self._urls["executor"]), invoker, self.signer, self.tls),
                self._urls["runtime"], concurrency=self.concurrency,
                idle_timeout=setting("runtime.idle-timeout", idle_timeout),
                timeout=timeout, memory_limit=setting("runtime.memory-limit", memory_limit),
                keep_freed_bytes=keep_freed_bytes("runtime.keep-freed-bytes"),
                start_timeout=setting("runtime.start-timeout"),
                cold_start_seconds=self.latency.cold_start_seconds, preload=self.preload,
                log_level=self.log_level, lambda_api=lambda_address,
                interface_client=setting("runtime.interface-client"), memory_mb=self.memory_mb,
            )
            if self.proxy_threshold:
                self.start_proxy()
        except BaseException:
            self.close()
            raise
        self.invoker = make_invoker(invoker, self.shards)

    def _lambda_api(self, lambda_api: bool | None) -> str | None:
        """Where the runtime is to serve Lambda's APIs (host:port), if it is; sets the
        function's memory (`wukong.aws.memory`), which those APIs report."""
        self.memory_mb = setting("aws.memory")
        address = (f"127.0.0.1:{free_port()}" if setting("runtime.lambda-api", lambda_api)
                   else None)
        self.lambda_api_url = f"http://{address}" if address else None
        """Where the runtime serves Lambda's APIs, if it does."""
        return address

    def _start_redis(self, shards: int | None) -> dict[str, list[str]]:
        """Start the cluster's own servers; their URLs as each user (`ADMIN` and the roles)."""
        binary = find_redis_server(setting("redis.server-binary"))
        count = shard_count(setting("redis.shards", shards))
        keep = setting("redis.keep-freed-memory")
        users = RedisUsers.generate()
        for _ in range(count):
            self.redis_servers.append(RedisServer(binary, users, keep_freed_memory=keep))
        return {user: [s.url(user) for s in self.redis_servers] for user in users.passwords}

    @property
    def parallelism(self) -> int:
        """How many executors really run at once: the runtime's concurrency, but on one
        machine no more than its cores."""
        return max(1, min(self.concurrency, os.cpu_count() or 1))

    @property
    def executor_cores(self) -> int:
        """Cores one executor can use: a local worker has the whole machine's."""
        return os.cpu_count() or 1

    @property
    def invoke_seconds(self) -> float:
        return self.latency.invoke_seconds

    @property
    def redis_urls(self) -> list[str]:
        """The shards' URLs as the client's Redis user, with its password: keep them off
        command lines and logs (`storage_manager.connections.redacted`)."""
        return self.shards.urls if self.shards else []

    @property
    def admin_urls(self) -> list[str]:
        """The shards' URLs as a user that may run any command (for operators and tests):
        the cluster's own servers' `admin`, else the URLs it was given."""
        return list(self._urls[ADMIN]) if self.shards else []

    def check_alive(self) -> None:
        """Raise if the runtime is gone, so a waiting client does not hang."""
        if self.runtime is None or not self.runtime.alive():
            raise RuntimeError("the Wukong local runtime has stopped; the job cannot finish")
        if self.proxy is not None and not self.proxy.alive():
            logger.warning("the KV proxy of %s died (exit code %s); restarting it", self,
                           self.proxy.process.poll())
            self.proxy = None
            self.start_proxy()

    # -- the KV proxy (tests and benchmarks stop, kill and restart it) -----------------------
    def start_proxy(self) -> None:
        """Start the KV proxy beside the function's queue; it takes over whatever batches a
        previous proxy left unfinished."""
        if self.proxy is not None and self.proxy.alive():
            return
        environ = None
        if self.lambda_api_url:
            from executor_lambda.platforms.local.lambda_api import lambda_environment

            environ = lambda_environment(self.function, self.memory_mb, self.lambda_api_url)
        self.proxy = ProxyProcess(self._urls["proxy"][0], self.tls, self.function,
                                  concurrency=self.concurrency,
                                  invoke_seconds=self.latency.invoke_seconds,
                                  start_timeout=setting("runtime.start-timeout"),
                                  log_level=self.log_level,
                                  platform="aws" if environ else "local", environ=environ)

    def stop_proxy(self) -> None:
        """Stop it cleanly: it finishes what it holds; invocations go direct meanwhile."""
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None

    def kill_proxy(self) -> None:
        """SIGKILL it, as a crash would; what it held waits for `start_proxy`."""
        if self.proxy is not None:
            self.proxy.kill()
            self.proxy = None

    def proxy_status(self) -> dict:
        """What the proxy is doing: see `kv_proxy.proxy_status`."""
        return proxy_status(self.shards.shards[0].client, self.function)

    def get(self, dsk, keys, callbacks=None, **kwargs):
        """A Dask get function bound to this cluster: `x.compute(scheduler=cluster.get)`."""
        return compute(self, to_task_graph(dsk, keys), keys, callbacks)

    def address(self) -> Address:
        """What a client of another process needs to run jobs here (see `wukong up`)."""
        return Address(self.function, tuple(self.redis_urls), self.payload_limit,
                       self.proxy_threshold, self.latency.invoke_seconds, self.concurrency,
                       self.executor_cores, self.signer.to_text(), self.tls)

    def close(self) -> None:
        active_clusters.leave(self)
        self.stop_proxy()
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        if self.shards is not None:
            self.shards.close()
        for server in self.redis_servers:
            server.stop()
        self.redis_servers = []

    def __enter__(self) -> LocalCluster:
        active_clusters.enter(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        shards = [redacted(url) for url in self.redis_urls]
        return f"<LocalCluster function={self.function} shards={shards}>"


def preload_modules(value: Sequence[str] | str | None) -> list[str]:
    """`wukong.runtime.preload`: module names, checked here, because the fork server that
    imports them skips a missing one silently (workers would import it per first task)."""
    modules = check("runtime.preload", value)
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ValueError(f"wukong.runtime.preload: no module named {name!r} here")
    return modules


MAX_AUTO_SHARDS = 4


def shard_count(value: int | str) -> int:
    """`wukong.redis.shards`: a number, or "auto": one shard per two cores, up to four.

    Each shard is a single-threaded server that wants a core of its own, and the executors
    need the rest: more shards help jobs that move large values and slow down jobs of many
    small tasks, whose executors lose the cores."""
    count = check("redis.shards", value)
    if count == "auto":
        return max(1, min(MAX_AUTO_SHARDS, (os.cpu_count() or 1) // 2))
    return count


def connect(address: str | os.PathLike | None = None) -> ConnectedCluster:
    """Connect to a cluster `wukong up` started, and make it this process's default: the
    one its directory or address file `address` names, else `wukong.address`'s, else the
    one in `~/.wukong/cluster`. Starts nothing."""
    global _connected
    cluster = ConnectedCluster(address or setting("address"))
    with active_clusters.lock:
        _connected = cluster
    return cluster


def current_cluster() -> Cluster:
    """The function on AWS Lambda under `wukong.platform: aws`; else the innermost
    cluster's `with` block, else `connect()`'s, else `wukong.address`'s, else the process's
    LocalCluster, started on first use."""
    global _default
    if platform_setting() == "aws":
        from wukong.lambda_cluster import lambda_cluster

        return lambda_cluster()
    with active_clusters.lock:
        innermost = active_clusters.innermost()
        if innermost is not None:
            return innermost
        if _connected is not None and not _connected.closed:
            return _connected
        address = setting("address")
        if address:
            return _connected_to(str(address))
        if _default is None or _default.runtime is None or not _default.runtime.alive():
            if _default is not None:
                _default.close()
            logger.info("starting a default Wukong LocalCluster for this process")
            _default = LocalCluster()
            atexit.register(_default.close)
        return _default


def _connected_to(address: str) -> ConnectedCluster:
    cluster = _by_address.get(address)
    if cluster is None or cluster.closed:
        cluster = _by_address[address] = ConnectedCluster(address)
        atexit.register(cluster.close)
    return cluster


def platform_setting() -> str:
    """`wukong.platform`: where the next job's executors run."""
    return setting("platform")
