"""The embedded local runtime: a pool of warm worker processes hosting the executor handler,
fed by a Redis list per function, like a small Lambda on one machine."""

from executor_lambda.local_runtime.dispatcher import Dispatcher, RuntimeSettings

__all__ = ["Dispatcher", "RuntimeSettings"]
