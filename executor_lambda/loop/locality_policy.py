"""Where a finished task's dependents run and whether its output must go to Redis.

The paper's locality techniques, decided once per task from the job's `Locality` switches:

- clustering: a large output's ready dependents all run here, so it is never shipped;
- delayed I/O: a large output whose only other readers are fan-ins still waiting for other
  parents is held (not written, not marked) for a bounded time, re-checking with an atomic
  claim-if-last, in the hope of running the fan-ins here;
- inline inputs: a small output travels inside the payloads of the executors invoked for
  its dependents instead of through Redis.

An output is written exactly when someone outside this executor may read it: the client
(a result), an invoked dependent that does not get it inline, or a fan-in that another
executor may claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from executor_lambda.failures import dumps_result
from storage_manager import JobGraph
from storage_manager.signing import Signer

RESERVE_SECONDS = 1.0
"""Time kept back from the invocation's remaining time to write a held output after all."""


@dataclass(slots=True)
class OutputPlan:
    """What to do with one task's output; never changed once made."""

    blob: bytes | None
    """The serialized output, if it is written or inlined."""
    write: bool
    """Write the output before marking it done (else it is inlined, held, or local only)."""
    hold: bool
    """Mark the fan-ins claim-if-last and hold the output at those still waiting."""
    cluster: bool
    """Run every ready dependent here."""


class LocalityPolicy:
    def __init__(self, graph: JobGraph, signer: Signer):
        self.graph = graph
        self.settings = graph.locality
        self.signer = signer

    def plan(self, task: int, value: Any, size: int, ready_now: list[int],
             fan_ins: list[int]) -> OutputPlan:
        """`size` is the output's (`dask.sizeof`); `ready_now` are the dependents that wait
        only for `task`; `fan_ins` the others. `UnserializableResult` if the output must
        be serialized and cannot be."""
        settings, graph = self.settings, self.graph
        large = size >= settings.large_object_bytes
        cluster = settings.clustering and large
        invoked = [] if cluster else ready_now[1:]
        hold = (settings.delayed_io and large and bool(fan_ins) and not invoked
                and task not in graph.results)
        blob = None
        inline = False
        if invoked and size <= (budget := settings.inline_budget):
            blob = dumps_result(value, task, graph.key(task), self.signer)
            inline = len(blob) <= budget
        write = (task in graph.results or (bool(invoked) and not inline)
                 or (bool(fan_ins) and not hold))
        if write and blob is None:
            blob = dumps_result(value, task, graph.key(task), self.signer)
        return OutputPlan(blob=blob, write=write, hold=hold, cluster=cluster)

    def hold_deadline(self, now: float, remaining_seconds: float | None) -> float:
        """Hold for the configured time, but never past the invocation's remaining time
        (less what writing the output after all may take)."""
        delay = self.settings.delay_seconds
        if remaining_seconds is not None:
            delay = min(delay, max(0.0, remaining_seconds - RESERVE_SECONDS))
        return now + delay
