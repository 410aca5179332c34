"""Static scheduler: graph intake, and the plan of a job — which tasks the client finalizes,
the job graph, and what each invocation starts with — and its submission.

    job = plan(to_task_graph(dsk, keys), keys, estimates, settings)
    submit(job, store, invoker)
"""

from static_scheduler.batching import Batch, Batching, start_batches
from static_scheduler.disk_shuffle import DiskShuffleUnsupported
from static_scheduler.estimates import Estimates, task_prefixes
from static_scheduler.finalizers import split_client_tasks
from static_scheduler.grouping import group_leaves, threads_per_group
from static_scheduler.intake import requested_keys, to_task_graph
from static_scheduler.partition import (
    CycleError,
    UnserializableTask,
    build_job_graph,
    static_schedule,
)
from static_scheduler.plan import Plan, PlanSettings, Start, plan
from static_scheduler.submit import submit

__all__ = [
    "Batch",
    "Batching",
    "CycleError",
    "DiskShuffleUnsupported",
    "Estimates",
    "Plan",
    "PlanSettings",
    "Start",
    "UnserializableTask",
    "build_job_graph",
    "group_leaves",
    "plan",
    "requested_keys",
    "split_client_tasks",
    "start_batches",
    "static_schedule",
    "submit",
    "task_prefixes",
    "threads_per_group",
    "to_task_graph",
]
