"""What the client measures of jobs: each job's report from its executors' events
(`wukong.last_job()`), and the estimates learned from them for later jobs' plans."""

from wukong.measurement.learned import (
    GilFreeShares,
    LearnedEstimates,
    OutputSizes,
    TaskCpuShares,
    TaskDurations,
)
from wukong.measurement.report import JobReport, TaskRecord, last_job, record

__all__ = ["GilFreeShares", "JobReport", "LearnedEstimates", "OutputSizes", "TaskCpuShares",
           "TaskDurations", "TaskRecord", "last_job", "record"]
