"""The executor function: its handler (`executor_lambda.handler`), its task loop, and the
platforms that run it (`executor_lambda.platforms`). Importing this package loads neither the
handler nor any platform; it names what a failed task reports."""

from executor_lambda.failures import (
    ExecutorDied,
    RemoteTaskError,
    TaskFailure,
    UnserializableResult,
)

__all__ = ["ExecutorDied", "RemoteTaskError", "TaskFailure", "UnserializableResult"]
