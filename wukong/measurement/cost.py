"""What a job costs on AWS Lambda, priced from its executors' events.

Lambda bills every invocation twice: once as a request, and for its duration, the function's
memory (in GB, 1,024 MB each) times the time from its handler's start to its return, rounded
up to the next millisecond. Here an invocation's duration runs from its handler's start
(`ExecutorEvents.started_at`) to the end of its last task's event: the publish that ships its
last record (one round trip) and the handler's return after it are not in it, nor is a cold
start's initialization, so the figure is slightly below Lambda's bill. An invocation that
recorded no task (one that found its job already gone) is not counted.

On the local runtime the same events give an estimate: what the job would cost on Lambda at
the configured memory size, had each invocation taken as long there as it did here.
Prices come from `wukong.aws.prices`, per architecture (`wukong.aws.architecture`); the
memory size from `wukong.aws.memory`, the setting `wukong deploy` gives the function.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storage_manager.protocol import ExecutorEvents
from wukong.config import setting

MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10_240
"""Lambda's limits on a function's memory."""


@dataclass(frozen=True)
class Pricing:
    """A function's size and what Lambda charges for it, in USD."""

    memory_mb: int
    architecture: str
    gb_second: float
    request: float

    @classmethod
    def from_config(cls) -> Pricing:
        """From `wukong.aws.*`; a bad value raises a ValueError that names its setting."""
        memory = setting("aws.memory")
        if (isinstance(memory, bool) or not isinstance(memory, int)
                or not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB):
            raise ValueError(f"wukong.aws.memory must be a whole number of MB from "
                             f"{MIN_MEMORY_MB} to {MAX_MEMORY_MB:,}, got {memory!r}")
        architecture = setting("aws.architecture")
        prices = setting("aws.prices") or {}
        if architecture not in prices:
            raise ValueError(f"wukong.aws.architecture is {architecture!r}, which has no prices "
                             f"in wukong.aws.prices (priced: {', '.join(map(str, prices))})")
        return cls(memory, architecture,
                   _price(prices[architecture], architecture, "gb-second"),
                   _price(prices[architecture], architecture, "request"))


def _price(table: object, architecture: str, name: str) -> float:
    value = table.get(name) if isinstance(table, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ValueError(f"wukong.aws.prices.{architecture}.{name} must be a price in USD "
                         f"(a number, 0 or more), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class InvocationSpan:
    """One invocation in time, from the records it shipped."""

    executor: str
    """The invocation's id."""
    pid: int
    via: str
    sent_at: float
    """When its caller asked for it."""
    started_at: float
    """When its handler started."""
    ended_at: float
    """When its last task's event was recorded."""
    tasks: int

    @property
    def billed_ms(self) -> int:
        """Its duration as Lambda bills it: rounded up to the millisecond, at least one."""
        return max(1, math.ceil(round((self.ended_at - self.started_at) * 1000, 6)))


def invocation_spans(executors: Iterable[ExecutorEvents]) -> list[InvocationSpan]:
    """One span per invocation, by start time. An invocation may ship several records, all
    with its id and start; a retried one (same id, as Lambda retries an event) is another
    invocation, with its own start."""
    merged: dict[tuple[str, float], InvocationSpan] = {}
    for ex in executors:
        ended = max((t.end for t in ex.tasks), default=ex.started_at)
        count = len(ex.tasks)
        seen = merged.get((ex.executor, ex.started_at))
        if seen is not None:
            ended, count = max(ended, seen.ended_at), count + seen.tasks
        merged[ex.executor, ex.started_at] = InvocationSpan(
            ex.executor, ex.pid, ex.via, ex.sent_at, ex.started_at, ended, count)
    return sorted(merged.values(), key=lambda span: (span.started_at, span.executor))


@dataclass(frozen=True)
class LambdaCost:
    """A job's bill on Lambda: requests, GB-seconds, and their price in USD."""

    requests: int
    gb_seconds: float
    dollars: float
    pricing: Pricing
    estimated: bool
    """Priced from a run elsewhere (the local runtime), not from invocations on Lambda."""

    def summary(self) -> str:
        what = "estimated cost on Lambda" if self.estimated else "cost on Lambda"
        return (f"{what} ({self.pricing.architecture}, {self.pricing.memory_mb:,} MB): "
                f"{self.requests:,} requests, {self.gb_seconds:,.3f} GB-s, "
                f"${self.dollars:,.6f}")


def lambda_cost(spans: Sequence[InvocationSpan], pricing: Pricing,
                estimated: bool) -> LambdaCost:
    """What the invocations `spans` cost at `pricing`."""
    gb_seconds = pricing.memory_mb / 1024 * sum(s.billed_ms for s in spans) / 1000
    dollars = len(spans) * pricing.request + gb_seconds * pricing.gb_second
    return LambdaCost(len(spans), gb_seconds, dollars, pricing, estimated)
