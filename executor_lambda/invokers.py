"""How executors and the static scheduler start executors.

An invoker takes a batch, because starting many at once is the common case (leaves, fan-outs)
and a batch costs one round trip on the local runtime.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import redis

from executor_lambda.invocation import DEFAULT_PAYLOAD_LIMIT, Invocation


def queue_key(function: str) -> str:
    """The Redis list the local runtime serves a function's invocations from."""
    return f"wk:fn:{function}:queue"


class Invoker(Protocol):
    def invoke(self, invocations: Sequence[Invocation]) -> None: ...


class QueueInvoker:
    """Invokes the local runtime: an invocation is one LPUSH, a batch is one LPUSH too."""

    def __init__(self, client: redis.Redis, function: str,
                 payload_limit: int = DEFAULT_PAYLOAD_LIMIT):
        self.client = client
        self.function = function
        self.payload_limit = payload_limit
        self._key = queue_key(function)

    def invoke(self, invocations: Sequence[Invocation]) -> None:
        if invocations:
            payloads = [inv.encode(self.payload_limit) for inv in invocations]
            self.client.lpush(self._key, *payloads)
