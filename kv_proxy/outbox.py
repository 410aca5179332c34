"""Invokes through the platform, coalescing invocations that become due together.

Under the latency model a hundred invocations end their wait in the same loop iteration; one
platform call for all of them keeps the proxy's own cost per invocation far below the latency
it hides. The same call counts them as done in the proxy's stats hash (see
`PayloadInvoker`), so the count a status request reads already includes every invocation an
executor may be running.
"""

from __future__ import annotations

import asyncio

from executor_lambda.platforms import PayloadInvoker


class Outbox:
    def __init__(self, invoker: PayloadInvoker, done_count: tuple[str, str]):
        self.invoker = invoker
        self.done_count = done_count
        """The stats hash field (key, field) that counts the invocations made."""
        self._payloads: list[bytes] = []
        self._flushed: asyncio.Future | None = None

    async def push_all(self, payloads: list[bytes]) -> None:
        await self.invoker.invoke(payloads, self.done_count)

    async def push(self, payload: bytes) -> None:
        """Returns once `payload` is invoked. The first caller of a loop iteration waits one
        turn for the others, then invokes everyone's payloads in one call."""
        self._payloads.append(payload)
        if self._flushed is not None:
            await self._flushed
            return
        flushed = self._flushed = asyncio.get_running_loop().create_future()
        await asyncio.sleep(0)
        payloads, self._payloads, self._flushed = self._payloads, [], None
        try:
            await self.push_all(payloads)
        except Exception as exc:
            flushed.set_exception(exc)
            raise
        flushed.set_result(None)
