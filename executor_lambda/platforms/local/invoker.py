"""Invoking the local platform: an invocation is its payload pushed onto the function's Redis
list (`FunctionKeys.queue`), which the runtime's dispatcher serves."""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis
import redis.asyncio as aioredis

from storage_manager.protocol import DEFAULT_PAYLOAD_LIMIT, FunctionKeys, Invocation
from storage_manager.signing import Signer


class QueueInvoker:
    """A batch is one LPUSH.

    With `invoke_seconds` > 0 (the latency model) each invocation costs the caller that long
    before it is pushed, one at a time, as a caller of a synchronous Invoke API pays on a
    real platform; at 0 nothing is added to the single LPUSH.
    """

    def __init__(self, client: redis.Redis, function: str, signer: Signer,
                 payload_limit: int = DEFAULT_PAYLOAD_LIMIT, invoke_seconds: float = 0.0):
        self.client = client
        self.function = function
        self.signer = signer
        self.payload_limit = payload_limit
        self.invoke_seconds = invoke_seconds
        self._key = FunctionKeys(function).queue

    def invoke(self, invocations: Sequence[Invocation]) -> None:
        if not invocations:
            return
        payloads = [self.payload(inv) for inv in invocations]
        if self.invoke_seconds <= 0:
            self.client.lpush(self._key, *payloads)
            return
        for payload in payloads:
            time.sleep(self.invoke_seconds)
            self.client.lpush(self._key, payload)

    def payload(self, invocation: Invocation) -> bytes:
        return invocation.encode(self.signer, self.payload_limit)


class QueuePayloadInvoker:
    """The KV proxy's invoker: the push and the count are one pipelined round trip."""

    def __init__(self, client: aioredis.Redis, function: str):
        self.client = client
        self._key = FunctionKeys(function).queue

    async def invoke(self, payloads: Sequence[bytes], count_in: tuple[str, str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        pipe.lpush(self._key, *payloads)
        pipe.hincrby(*count_in, len(payloads))
        await pipe.execute()
