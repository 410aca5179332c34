"""`wukong.get`: the Dask get function that runs a graph on decentralized executors."""

from __future__ import annotations

import uuid
from typing import Any

from dask.local import nested_get

from static_scheduler import build_job_graph, requested_keys, to_task_graph
from wukong.cluster import LocalCluster, current_cluster
from wukong.config import setting
from wukong.job import JobRun


def get(dsk: Any, keys: Any, cluster: LocalCluster | None = None, **kwargs: Any) -> Any:
    """Compute `keys` of `dsk`; results come back in the nesting of `keys`.

    `dsk` is what Dask hands a scheduler: an expression or collection with `__dask_graph__`,
    or a dict graph in the legacy tuple form or the task spec. Extra keyword arguments that
    Dask passes to every scheduler are accepted and ignored.
    """
    tasks = to_task_graph(dsk, keys)
    cluster = cluster or current_cluster()
    graph = build_job_graph(
        job_id=uuid.uuid4().hex[:16],
        tasks=tasks,
        results=requested_keys(keys),
        num_shards=len(cluster.shards),
        ttl_ms=int(float(setting("redis.ttl")) * 1000),
    )
    values = JobRun(cluster, graph).run()
    by_key = {graph.keys[task]: value for task, value in values.items()}
    return nested_get(keys, by_key)
