"""The invoker interface: how the static scheduler, executors at fan-outs and the KV proxy
start executors, whatever platform runs them.

An invoker takes a batch, because starting many at once is the common case (leaves,
fan-outs). Every invocation it is given is made at least once; the job protocol tolerates
duplicates (idempotent writes and marks, claims owned by the invocation id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from storage_manager.protocol.invocation import DEFAULT_PAYLOAD_LIMIT, Invocation


class Invoker(Protocol):
    function: str
    """The executor function it starts."""
    payload_limit: int
    """The largest payload it sends; a larger one raises `PayloadTooLarge`."""

    def invoke(self, invocations: Sequence[Invocation]) -> None: ...


class PayloadInvoker(Protocol):
    """The KV proxy's side: invocations already encoded, made from an event loop."""

    async def invoke(self, payloads: Sequence[bytes], count_in: tuple[str, str]) -> None:
        """Make one invocation per payload and add their number to the hash field
        `count_in` (key, field) in the same step, so that a reader of the count never
        finds it behind an executor already running."""


@dataclass(frozen=True)
class InvokerSettings:
    """How a process invokes the function: what the client's `wukong.*` settings say, and
    what an executor reads from its environment (see `ExecutorSettings`)."""

    function: str = "wukong-executor"
    payload_limit: int = DEFAULT_PAYLOAD_LIMIT
    invoke_seconds: float = 0.0
    """The latency model's cost of one invocation to its caller (0: off)."""
    proxy_threshold: int = 0
    """The smallest batch handed to the KV proxy (0: no proxy)."""
    platform: str = "local"
    """The package under `executor_lambda.platforms` that runs the function."""
