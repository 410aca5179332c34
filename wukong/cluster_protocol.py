"""What a job runs on, as the client sees it: a cluster of the executor function's
deployment, its Redis shards and its invoker.

`LocalCluster` and `ConnectedCluster` are two; every part of the client that runs a job
takes a `Cluster`, so it never depends on how the cluster was started.
"""

from __future__ import annotations

from typing import Protocol

from executor_lambda.platforms import Invoker
from storage_manager import ShardSet


class Cluster(Protocol):
    platform: str
    """Where its executors run (`wukong.platform`): `local` or `aws`."""
    function: str
    """The executor function's name: it names the deployment's own keys in Redis."""
    shards: ShardSet
    invoker: Invoker
    keeps_reports: bool
    """Other processes reach the cluster: its jobs are indexed and their reports kept in
    Redis a while (see `wukong.measurement.kept_reports`)."""
    runtime_serves_queue: bool
    """A local runtime takes the function's queue: it can stop a cancelled job's executors
    (see `wukong.cancellation`)."""

    @property
    def parallelism(self) -> int:
        """How many executors really run at once."""

    @property
    def executor_cores(self) -> int:
        """Cores one executor can use."""

    @property
    def invoke_seconds(self) -> float:
        """What one invocation costs its caller (the latency model's; 0: nothing modelled)."""

    def check_alive(self) -> None:
        """Raise if the cluster can no longer run executors, so a waiting client does not
        hang."""
