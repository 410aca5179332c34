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
    """The largest payload it sends."""

    def invoke(self, invocations: Sequence[Invocation]) -> None: ...

    def payload(self, invocation: Invocation) -> bytes:
        """What carries `invocation` on this platform, within `payload_limit`: a larger one
        raises `PayloadTooLarge`, or is passed by reference where the platform does that."""


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
    region: str | None = None
    """Where the function runs, for platforms with regions (None: the platform's default)."""
    endpoint_url: str | None = None
    """The platform's API, where it is not the default (e.g. the local runtime's Lambda
    API); None: the platform's own."""
