"""The hand-off to the KV proxy, the same on every platform.

A batch at or above the fan-out threshold is handed to the proxy's request stream in one
round trip, and the proxy invokes many at once. The hand-off is one Lua call (`hand_off`)
that checks the proxy's heartbeat and appends in the same atomic step, so a batch is never
handed to a proxy that is known to be gone; if none is running, the batch is invoked
directly and a warning is logged once per invoker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

import redis

from executor_lambda.platforms.invoker import Invoker
from storage_manager.protocol import FunctionKeys, Invocation, encode_batch, script

logger = logging.getLogger(__name__)


class ProxyInvoker:
    """Hands batches of at least `threshold` invocations to the KV proxy whose streams live
    on `client`'s server; smaller batches, and every batch while no proxy runs, go through
    `direct` with no extra hop."""

    def __init__(self, direct: Invoker, threshold: int, client: redis.Redis):
        if threshold < 1:
            raise ValueError(f"wukong.proxy.fanout-threshold must be at least 1, not {threshold}")
        self.direct = direct
        self.threshold = threshold
        self.function = direct.function
        self.payload_limit = direct.payload_limit
        self._hand_off = client.register_script(script("hand_off"))
        keys = FunctionKeys(direct.function)
        self._keys = [keys.proxy_alive, keys.proxy_requests]
        self._warned = False

    def invoke(self, invocations: Sequence[Invocation]) -> None:
        if len(invocations) >= self.threshold and self._to_proxy(invocations):
            return
        self.direct.invoke(invocations)

    def payload(self, invocation: Invocation) -> bytes:
        return self.direct.payload(invocation)

    def _to_proxy(self, invocations: Sequence[Invocation]) -> bool:
        batch = encode_batch(self.direct.payload(replace(inv, via="proxy"))
                             for inv in invocations)
        if self._hand_off(keys=self._keys, args=[batch]):
            return True
        if not self._warned:
            self._warned = True
            logger.warning("no KV proxy is running for function %s; invoking %d executors "
                           "directly (and so from now on until one runs)",
                           self.function, len(invocations))
        return False
