"""How executors and the static scheduler start executors.

An invoker takes a batch, because starting many at once is the common case (leaves, fan-outs)
and a batch costs one round trip on the local runtime.

Two paths lead to the local runtime's queue:

- direct (`QueueInvoker`): the caller invokes each executor itself. Under the latency model it
  pays `invoke_seconds` per invocation, one after another, as a caller of a synchronous
  Invoke API does on a real platform;
- through the KV proxy (`ProxyInvoker`): a batch at or above the fan-out threshold is handed
  to the proxy's request stream in one round trip, and the proxy invokes many at once. The
  hand-off is one Lua call that checks the proxy's heartbeat and appends in the same atomic
  step, so a batch is never handed to a proxy that is known to be gone; if none is running,
  the batch is invoked directly and a warning is logged once per invoker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import redis

from executor_lambda.invocation import DEFAULT_PAYLOAD_LIMIT, Invocation

logger = logging.getLogger(__name__)

PROXY_GROUP = "proxy"
"""The consumer group the proxy reads its request stream with."""

BATCH_SEPARATOR = b"\n"
"""Joins the payloads of one batch in one stream entry; JSON payloads hold no newline."""

_HAND_OFF = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], '*', 'batch', ARGV[1])
return 1
"""


def queue_key(function: str) -> str:
    """The Redis list the local runtime serves a function's invocations from."""
    return f"wk:fn:{function}:queue"


def proxy_requests_key(function: str) -> str:
    """The stream of invocation batches the KV proxy serves (read with a consumer group)."""
    return f"wk:fn:{function}:proxy:requests"


def proxy_alive_key(function: str) -> str:
    """Present while a proxy serves the function: it refreshes the key's TTL."""
    return f"wk:fn:{function}:proxy:alive"


def proxy_stats_key(function: str) -> str:
    """A hash where the proxy reports what it is doing."""
    return f"wk:fn:{function}:proxy:stats"


class Invoker(Protocol):
    def invoke(self, invocations: Sequence[Invocation]) -> None: ...


class QueueInvoker:
    """Invokes the local runtime: an invocation is one LPUSH, a batch is one LPUSH too.

    With `invoke_seconds` > 0 (the latency model) each invocation costs the caller that long
    before it is pushed, one at a time; at 0 nothing is added to the single LPUSH.
    """

    def __init__(self, client: redis.Redis, function: str,
                 payload_limit: int = DEFAULT_PAYLOAD_LIMIT, invoke_seconds: float = 0.0):
        self.client = client
        self.function = function
        self.payload_limit = payload_limit
        self.invoke_seconds = invoke_seconds
        self._key = queue_key(function)

    def invoke(self, invocations: Sequence[Invocation]) -> None:
        if not invocations:
            return
        payloads = [inv.encode(self.payload_limit) for inv in invocations]
        if self.invoke_seconds <= 0:
            self.client.lpush(self._key, *payloads)
            return
        for payload in payloads:
            time.sleep(self.invoke_seconds)
            self.client.lpush(self._key, payload)


class ProxyInvoker:
    """Hands batches of at least `threshold` invocations to the KV proxy; smaller batches,
    and every batch while no proxy runs, go through `direct` with no extra hop."""

    def __init__(self, direct: QueueInvoker, threshold: int):
        if threshold < 1:
            raise ValueError(f"wukong.proxy.fanout-threshold must be at least 1, not {threshold}")
        self.direct = direct
        self.threshold = threshold
        self._hand_off = direct.client.register_script(_HAND_OFF)
        self._keys = [proxy_alive_key(direct.function), proxy_requests_key(direct.function)]
        self._warned = False

    def invoke(self, invocations: Sequence[Invocation]) -> None:
        if len(invocations) >= self.threshold and self._to_proxy(invocations):
            return
        self.direct.invoke(invocations)

    def _to_proxy(self, invocations: Sequence[Invocation]) -> bool:
        limit = self.direct.payload_limit
        batch = BATCH_SEPARATOR.join(replace(inv, via="proxy").encode(limit)
                                     for inv in invocations)
        if self._hand_off(keys=self._keys, args=[batch]):
            return True
        if not self._warned:
            self._warned = True
            logger.warning("no KV proxy is running for function %s; invoking %d executors "
                           "directly (and so from now on until one runs)",
                           self.direct.function, len(invocations))
        return False
