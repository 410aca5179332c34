"""Compute keys of a task graph on a deployment: plan the job, run it, finish on the client.

Dask's callbacks get their `start` and `finish` hooks here, on the client; tasks run in other
processes, so per-task hooks do not fire (the job's per-task events are in
`wukong.last_job()` instead).
"""

from __future__ import annotations

import uuid
from typing import Any

from dask._task_spec import GraphNode
from dask.callbacks import local_callbacks, unpack_callbacks
from dask.local import nested_get

from static_scheduler import build_job_graph, requested_keys
from storage_manager.heap import keep_freed_heap
from wukong.client_tasks import run_client_tasks, split_client_tasks
from wukong.config import keep_freed_bytes, locality_settings, setting
from wukong.deployment import Deployment
from wukong.job import JobRun


def compute(deployment: Deployment, tasks: dict[Any, GraphNode], keys: Any,
            callbacks: Any = None) -> Any:
    """The values of `keys` (in their nesting) of the culled task graph `tasks`."""
    keep_freed_heap(keep_freed_bytes("client.keep-freed-bytes"))
    remote, results, mine = tasks, requested_keys(keys), {}
    if setting("scheduling.client-finalize"):
        remote, results, mine = split_client_tasks(tasks, results)
    graph = build_job_graph(
        job_id=uuid.uuid4().hex[:16],
        tasks=remote,
        results=results,
        num_shards=len(deployment.shards),
        ttl_ms=int(float(setting("redis.ttl")) * 1000),
        locality=locality_settings(),
    )
    with local_callbacks(callbacks) as active:
        start, _, _, _, finish = unpack_callbacks(active)
        for hook in start:
            hook(tasks)
        state: dict[str, Any] = {"cache": {}}
        errored = True
        try:
            values = JobRun(deployment, graph).run()
            cache = {graph.keys[task]: value for task, value in values.items()}
            state["cache"] = {**cache, **run_client_tasks(mine, cache)}
            errored = False
        finally:
            for hook in finish:
                hook(tasks, state, errored)
    return nested_get(keys, state["cache"])
