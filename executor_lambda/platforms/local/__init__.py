"""The local platform: a pool of warm worker processes hosting the executor handler, fed by a
Redis list per function, like a small Lambda on one machine (`python -m
executor_lambda.platforms.local` runs its dispatcher; see `dispatcher`)."""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

from executor_lambda.platforms.invoker import InvokerSettings
from executor_lambda.platforms.local.invoker import QueueInvoker, QueuePayloadInvoker

__all__ = ["QueueInvoker", "QueuePayloadInvoker", "invoker", "payload_invoker"]


def invoker(settings: InvokerSettings, client: redis.Redis) -> QueueInvoker:
    """Invocations pushed onto the function's list on `client`'s server."""
    return QueueInvoker(client, settings.function, settings.payload_limit,
                        settings.invoke_seconds)


def payload_invoker(client: aioredis.Redis, function: str) -> QueuePayloadInvoker:
    return QueuePayloadInvoker(client, function)
