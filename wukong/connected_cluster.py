"""A cluster this process did not start, that outlives it: `wukong.connect(address)`.

`wukong up` starts the cluster and writes its address (see `cluster_address`); connecting
starts nothing: it opens the cluster's shards, checks that its runtime serves the function,
and invokes executors as the cluster's own processes do. Any number of processes may
connect at once: each job is its own (its keys under its own id), and all of them share
the function's queue, runtime and learned estimates. Closing a connection closes this
process's connections to the shards, not the cluster (`wukong down` stops it).
"""

from __future__ import annotations

import os
from typing import Any

from executor_lambda.platforms import InvokerSettings, make_invoker
from executor_lambda.platforms.local.status import runtime_status
from static_scheduler import to_task_graph
from wukong import active_clusters
from wukong.cluster_address import ClusterDirectory
from wukong.compute import compute


class ConnectedCluster:
    keeps_reports = True
    """Jobs are indexed and their reports kept, for `wukong status` and `wukong report`."""
    runtime_serves_queue = True

    def __init__(self, address: str | os.PathLike | None = None):
        """Connect to the cluster whose directory or address file `address` names."""
        self.closed = False
        self.directory = ClusterDirectory(address)
        self.address = self.directory.address()
        self.function = self.address.function
        self.shards = self.address.open_shards()
        try:
            self.check_alive()
        except BaseException:
            self.shards.close()
            raise
        self.invoker = make_invoker(InvokerSettings(
            function=self.function, payload_limit=self.address.payload_limit,
            invoke_seconds=self.address.invoke_seconds,
            proxy_threshold=self.address.proxy_threshold, platform=self.address.platform,
        ), self.shards)

    @property
    def platform(self) -> str:
        """Where its executors run (the runtime `wukong up` started: `local`)."""
        return self.address.platform

    @property
    def parallelism(self) -> int:
        return max(1, min(self.address.concurrency, self.address.cores))

    @property
    def executor_cores(self) -> int:
        return self.address.cores

    @property
    def invoke_seconds(self) -> float:
        return self.address.invoke_seconds

    @property
    def redis_urls(self) -> list[str]:
        return self.shards.urls

    def check_alive(self) -> None:
        """Raise if no runtime serves the cluster's function any more."""
        if not runtime_status(self.shards.shards[0].client, self.function)["alive"]:
            raise RuntimeError(
                f"the Wukong cluster in {self.directory.path} is not running (no runtime "
                f"serves its function {self.function!r}); see `wukong status`")

    def get(self, dsk: Any, keys: Any, callbacks: Any = None, **kwargs: Any) -> Any:
        """A Dask get function bound to this cluster: `x.compute(scheduler=cluster.get)`."""
        return compute(self, to_task_graph(dsk, keys), keys, callbacks)

    def close(self) -> None:
        self.closed = True
        active_clusters.leave(self)
        self.shards.close()

    def __enter__(self) -> ConnectedCluster:
        active_clusters.enter(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ConnectedCluster {self.directory.path} function={self.function}>"
