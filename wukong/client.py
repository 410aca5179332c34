"""`wukong.get`: the Dask get function that runs a graph on decentralized executors."""

from __future__ import annotations

from typing import Any

from static_scheduler import to_task_graph
from wukong.cluster import current_cluster
from wukong.cluster_protocol import Cluster
from wukong.compute import compute


def get(dsk: Any, keys: Any, cluster: Cluster | None = None, callbacks: Any = None,
        **kwargs: Any) -> Any:
    """Compute `keys` of `dsk`; results come back in the nesting of `keys`.

    `dsk` is what Dask hands a scheduler: an expression or collection with `__dask_graph__`,
    or a dict graph in the legacy tuple form or the task spec. Dask's callbacks fire on the
    client as the job's tasks start and finish (see `wukong.callbacks`). Other keyword
    arguments that Dask passes to every scheduler are accepted and ignored.
    """
    tasks = to_task_graph(dsk, keys)
    return compute(cluster or current_cluster(), tasks, keys, callbacks)
