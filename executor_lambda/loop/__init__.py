"""The executor's task loop (`TaskLoop`) and its parts, one job each: gathering inputs,
running tasks, publishing them, a batch's region, and what is held at fan-ins."""

from executor_lambda.loop.task_loop import TaskLoop
from executor_lambda.loop.task_run import TaskRun

__all__ = ["TaskLoop", "TaskRun"]
