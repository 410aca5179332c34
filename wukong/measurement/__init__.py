"""What the client measures of jobs: each job's report from its executors' events
(`wukong.last_job()`: its tasks, invocations and cost on Lambda, `cost`), the performance
report of a block of jobs (`performance_report`: one HTML page, from the events' `timeline`,
plotted in `report_plots` and laid out in `report_page`), and the estimates learned from the
events for later jobs' plans (`learned`)."""

from wukong.measurement.learned import (
    GilFreeShares,
    LearnedEstimates,
    OutputSizes,
    TaskCpuShares,
    TaskDurations,
)
from wukong.measurement.performance_report import performance_report
from wukong.measurement.report import JobReport, TaskRecord, last_job, record

__all__ = ["GilFreeShares", "JobReport", "LearnedEstimates", "OutputSizes", "TaskCpuShares",
           "TaskDurations", "TaskRecord", "last_job", "performance_report", "record"]
