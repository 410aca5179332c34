"""`wukong.get`: the Dask get function that runs a graph on decentralized executors."""

from __future__ import annotations

import uuid
from typing import Any

from dask.callbacks import local_callbacks, unpack_callbacks
from dask.local import nested_get

from static_scheduler import build_job_graph, requested_keys, to_task_graph
from storage_manager.heap import keep_freed_heap
from wukong.client_tasks import run_client_tasks, split_client_tasks
from wukong.cluster import LocalCluster, current_cluster
from wukong.config import keep_freed_bytes, locality_settings, setting, task_settings
from wukong.job import JobRun


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
    cluster = cluster or current_cluster()
    keep_freed_heap(keep_freed_bytes("client.keep-freed-bytes"))
    remote, results, mine = tasks, requested_keys(keys), {}
    if setting("scheduling.client-finalize"):
        remote, results, mine = split_client_tasks(tasks, results)
    graph = build_job_graph(
        job_id=uuid.uuid4().hex[:16],
        tasks=remote,
        results=results,
        num_shards=len(cluster.shards),
        ttl_ms=int(float(setting("redis.ttl")) * 1000),
        locality=locality_settings(),
        config=task_settings(),
    )
    with local_callbacks(callbacks) as active:
        start, _, _, _, finish = unpack_callbacks(active)
        for hook in start:
            hook(tasks)
        state: dict[str, Any] = {"cache": {}}
        errored = True
        try:
            values = JobRun(cluster, graph).run()
            cache = {graph.keys[task]: value for task, value in values.items()}
            state["cache"] = {**cache, **run_client_tasks(mine, cache)}
            errored = False
        finally:
            for hook in finish:
                hook(tasks, state, errored)
    return nested_get(keys, state["cache"])
