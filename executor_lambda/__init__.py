"""The executor function: its handler, its task loop, how to invoke it, and the local runtime."""

from executor_lambda.failures import (
    ExecutorDied,
    RemoteTaskError,
    TaskFailure,
    UnserializableResult,
)
from executor_lambda.handler import handler
from executor_lambda.invocation import Invocation, PayloadTooLarge
from executor_lambda.invokers import Invoker, QueueInvoker, queue_key

__all__ = [
    "ExecutorDied",
    "Invocation",
    "Invoker",
    "PayloadTooLarge",
    "QueueInvoker",
    "RemoteTaskError",
    "TaskFailure",
    "UnserializableResult",
    "handler",
    "queue_key",
]
