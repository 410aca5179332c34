"""The KV proxy's invoker on AWS Lambda: every payload of a batch an `Event` invocation,
made on a pool of threads (botocore's client is synchronous and thread-safe) while the
proxy's event loop goes on, retried as `LambdaInvoker.send` retries.

The proxy's count of invocations made goes up before they are made, so a reader never finds
it behind an executor already running, and down again by those that failed (the batch stays
with the proxy and is made again).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio as aioredis

from executor_lambda.platforms.aws.invoker import DEFAULT_THREADS, LambdaInvoker, lambda_client


class LambdaPayloadInvoker:
    def __init__(self, client: aioredis.Redis, function: str, threads: int = DEFAULT_THREADS):
        self.client = client
        self.invoker = LambdaInvoker(function, None, threads=threads,
                                     client=lambda_client(pool=threads))
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="proxy-invoke")

    async def invoke(self, payloads: Sequence[bytes], count_in: tuple[str, str]) -> None:
        await self.client.hincrby(*count_in, len(payloads))
        loop = asyncio.get_running_loop()
        outcomes = await asyncio.gather(
            *(loop.run_in_executor(self._pool, self._send, payload) for payload in payloads),
            return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        if failures:
            await self.client.hincrby(*count_in, -len(failures))
            raise failures[0]

    def _send(self, payload: bytes) -> None:
        event = json.loads(payload)
        self.invoker.send(payload, event["job"], event["task"])
