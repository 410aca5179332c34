"""Static scheduler: graph intake, DFS partitioning into static schedules, starting a job."""

from static_scheduler.batching import Batch, Batching, start_batches
from static_scheduler.grouping import group_leaves, threads_per_group
from static_scheduler.intake import requested_keys, to_task_graph
from static_scheduler.learned import (
    LearnedEstimates,
    OutputSizes,
    TaskCpuShares,
    TaskDurations,
    task_prefixes,
)
from static_scheduler.partition import (
    CycleError,
    UnserializableTask,
    build_job_graph,
    static_schedule,
)
from static_scheduler.submit import start_job

__all__ = [
    "Batch",
    "Batching",
    "CycleError",
    "LearnedEstimates",
    "OutputSizes",
    "TaskCpuShares",
    "TaskDurations",
    "UnserializableTask",
    "build_job_graph",
    "group_leaves",
    "requested_keys",
    "start_batches",
    "start_job",
    "static_schedule",
    "task_prefixes",
    "threads_per_group",
    "to_task_graph",
]
