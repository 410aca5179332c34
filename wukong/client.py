"""`wukong.get`: the Dask get function that runs a graph on decentralized executors."""

from __future__ import annotations

from typing import Any

from static_scheduler import to_task_graph
from wukong.cluster import LocalCluster, current_cluster
from wukong.compute import compute


def get(dsk: Any, keys: Any, cluster: LocalCluster | None = None, callbacks: Any = None,
        **kwargs: Any) -> Any:
    """Compute `keys` of `dsk`; results come back in the nesting of `keys`.

    `dsk` is what Dask hands a scheduler: an expression or collection with `__dask_graph__`,
    or a dict graph in the legacy tuple form or the task spec. Dask callbacks get their `start`
    and `finish` hooks on the client; tasks run in other processes, so per-task hooks do not
    fire (the job's per-task events are in `wukong.last_job()` instead). Other keyword
    arguments that Dask passes to every scheduler are accepted and ignored.
    """
    tasks = to_task_graph(dsk, keys)
    return compute(cluster or current_cluster(), tasks, keys, callbacks)
