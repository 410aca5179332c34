"""Compute keys of a task graph on a cluster: plan the job, run it, finish on the client.

Dask's callbacks fire here, on the client, from the job's events (see `callbacks`): when
any of them follows tasks, the job asks its executors for notices as tasks start and finish.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from dask._task_spec import GraphNode
from dask.callbacks import local_callbacks
from dask.local import nested_get

from executor_lambda import TaskFailure
from static_scheduler import Plan, plan
from storage_manager.heap import keep_freed_heap
from wukong.callbacks import CLIENT, JobCallbacks
from wukong.cluster_protocol import Cluster
from wukong.config import keep_freed_bytes, plan_settings
from wukong.job import JobRun
from wukong.measurement import LearnedEstimates
from wukong.settings_table import check_all

logger = logging.getLogger(__name__)


def compute(cluster: Cluster, tasks: Mapping[Any, GraphNode], keys: Any,
            callbacks: Any = None) -> Any:
    """The values of `keys` (in their nesting) of the culled task graph `tasks`."""
    check_all()
    keep_freed_heap(keep_freed_bytes("client.keep-freed-bytes"))
    with local_callbacks(callbacks) as active:
        hooks = JobCallbacks(active, tasks)
        hooks.start()
        errored = True
        try:
            job = plan_job(cluster, tasks, keys, notices=hooks.per_task)
            hooks.planned(job.graph.keys[t] for t in job.graph.results - job.graph.data)
            values = JobRun(cluster, job, callbacks=hooks).run()
            cache = {job.graph.keys[task]: value for task, value in values.items()}
            cache.update(run_client_tasks(job.client_tasks, cache, hooks))
            hooks.state["cache"].update(cache)
            errored = False
        finally:
            hooks.finish(errored)
    return nested_get(keys, cache)


def plan_job(cluster: Cluster, tasks: Mapping[Any, GraphNode], keys: Any,
             job_id: str | None = None, notices: bool = False) -> Plan:
    """The plan of a job on `cluster`, from the settings and the learned estimates now;
    with `notices`, its executors tell as tasks start and finish."""
    settings = plan_settings(cluster, notices)
    learned = LearnedEstimates(cluster.shards.shards[0].client, cluster.function)
    return plan(tasks, keys, learned.read(), settings, job_id)


def run_client_tasks(mine: Mapping[Any, GraphNode], values: Mapping[Any, Any],
                     hooks: JobCallbacks | None = None) -> dict[Any, Any]:
    """Each client task's value; an exception is raised with its original type, naming the
    task, as a failed executor task's is. `hooks` are told as each starts and finishes."""
    out: dict[Any, Any] = {}
    for key, node in mine.items():
        if hooks is not None:
            hooks.started(key)
        out[key] = _run_client_task(key, node, values)
        if hooks is not None:
            hooks.finished(key, CLIENT, out[key])
    return out


def _run_client_task(key: Any, node: GraphNode, values: Mapping[Any, Any]) -> Any:
    try:
        return node({dep: values[dep] for dep in node.dependencies})
    except Exception as exc:
        logger.debug("client task %r failed", key, exc_info=True)
        raise TaskFailure.from_exception(exc, "client").exception_for(key) from None
