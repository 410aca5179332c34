"""Compute keys of a task graph on a cluster: plan the job, run it, finish on the client.

Dask's callbacks get their `start` and `finish` hooks here, on the client; tasks run in other
processes, so per-task hooks do not fire (the job's per-task events are in
`wukong.last_job()` instead).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dask._task_spec import GraphNode
from dask.callbacks import local_callbacks, unpack_callbacks
from dask.local import nested_get

from executor_lambda import TaskFailure
from static_scheduler import Plan, plan
from storage_manager.heap import keep_freed_heap
from wukong.cluster_protocol import Cluster
from wukong.config import keep_freed_bytes, plan_settings
from wukong.job import JobRun
from wukong.measurement import LearnedEstimates

logger = logging.getLogger(__name__)


def compute(cluster: Cluster, tasks: Mapping[Any, GraphNode], keys: Any,
            callbacks: Any = None) -> Any:
    """The values of `keys` (in their nesting) of the culled task graph `tasks`."""
    keep_freed_heap(keep_freed_bytes("client.keep-freed-bytes"))
    job = plan_job(cluster, tasks, keys)
    with local_callbacks(callbacks) as active:
        start, _, _, _, finish = unpack_callbacks(active)
        for hook in start:
            hook(tasks)
        state: dict[str, Any] = {"cache": {}}
        errored = True
        try:
            values = JobRun(cluster, job).run()
            cache = {job.graph.keys[task]: value for task, value in values.items()}
            state["cache"] = {**cache, **run_client_tasks(job.client_tasks, cache)}
            errored = False
        finally:
            for hook in finish:
                hook(tasks, state, errored)
    return nested_get(keys, state["cache"])


def plan_job(cluster: Cluster, tasks: Mapping[Any, GraphNode], keys: Any,
             job_id: str | None = None) -> Plan:
    """The plan of a job on `cluster`, from the settings and the learned estimates now."""
    settings = plan_settings(cluster)
    learned = LearnedEstimates(cluster.shards.shards[0].client, cluster.function)
    return plan(tasks, keys, learned.read(), settings, job_id)


def run_client_tasks(mine: Mapping[Any, GraphNode], values: Mapping[Any, Any]
                     ) -> dict[Any, Any]:
    """Each client task's value; an exception is raised with its original type, naming the
    task, as a failed executor task's is."""
    out = {}
    for key, node in mine.items():
        try:
            out[key] = node({dep: values[dep] for dep in node.dependencies})
        except Exception as exc:
            logger.debug("client task %r failed", key, exc_info=True)
            raise TaskFailure.from_exception(exc, "client").exception_for(key) from None
    return out
