"""The local platform: a pool of warm worker processes hosting the executor handler, fed by a
Redis list per function, like a small Lambda on one machine (`python -m
executor_lambda.platforms.local` runs its dispatcher; see `dispatcher`)."""

from __future__ import annotations

import redis.asyncio as aioredis

from executor_lambda.platforms.invoker import InvokerSettings
from executor_lambda.platforms.local.invoker import QueueInvoker, QueuePayloadInvoker
from storage_manager import ShardSet

__all__ = ["REPORTS_LOST_EXECUTORS", "QueueInvoker", "QueuePayloadInvoker", "invoker_for",
           "payload_invoker_for"]

REPORTS_LOST_EXECUTORS = True
"""The runtime appends an executor it lost (died, timed out) to its job's log."""


def invoker_for(settings: InvokerSettings, shards: ShardSet) -> QueueInvoker:
    """Invocations pushed onto the function's list, on the first shard."""
    return QueueInvoker(shards.shards[0].client, settings.function, shards.signer,
                        settings.payload_limit, settings.invoke_seconds)


def payload_invoker_for(client: aioredis.Redis, function: str) -> QueuePayloadInvoker:
    return QueuePayloadInvoker(client, function)
