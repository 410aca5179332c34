"""The local runtime's retries of deliveries that died or timed out, as Lambda retries an
asynchronous invocation its function did not finish.

A delivery of an invocation from the runtime's own queue whose worker died or ran past the
timeout is delivered again with `attempt + 1`, naming the dead delivery by its request id
after those it replaced (`Invocation.replaces`); the new delivery takes over what they
claimed, and nothing a duplicate holds (see `executor_lambda.delivery`). The invocation's
`retries` bound how often one *task* may be the one running when its deliveries end: an
executor that pulls from the job's work queue runs many tasks over its life, and a death
that strikes it while it runs another task is not that task's fault. So the invocation is
delivered again until one task was running at `retries + 1` of its deaths (a task that kills
its executor, or never finishes in time, fails its job after as many deliveries as Lambda
would make); deaths are bounded by the tasks the invocation may run, each blamed at most
that often. Each cause is kept until the invocation finishes or its retries are spent; then
the job's log gets an `ExecutorDied` naming the task, the attempts and every cause. A
payload passed by reference is not delivered again (its full payload is in Redis, not here):
it fails at once, as before.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

from storage_manager.protocol import PAYLOAD_KEY, Invocation
from storage_manager.signing import Signer, Unauthenticated


@dataclass
class _Deaths:
    """How an invocation's earlier deliveries ended."""

    causes: list[str] = field(default_factory=list)
    """What ended each, in order."""
    blamed: Counter[int] = field(default_factory=Counter)
    """How many of them ended while each task ran."""


class Redeliveries:
    def __init__(self, signer: Signer):
        self.signer = signer
        self.deaths: dict[str, _Deaths] = {}
        """The invocations being retried, by id."""

    def again(self, payload: bytes, why: str, task: int, request_id: str) -> bytes | None:
        """The payload of the next delivery of the one (`request_id`) that ended for `why`
        while it ran `task`; None once its retries are spent (`spent` then tells them)."""
        event = json.loads(payload)
        deaths = self.deaths.setdefault(str(event.get("id")), _Deaths())
        deaths.causes.append(why)
        if PAYLOAD_KEY in event:
            return None
        try:
            retry = Invocation.from_event(event, self.signer).retry(request_id)
        except (ValueError, Unauthenticated):  # the handler refused it already
            return None
        deaths.blamed[task] += 1
        if deaths.blamed[task] > retry.retries:
            return None
        return retry.encode(self.signer, limit=None)

    def spent(self, invocation_id: str) -> str:
        """How the invocation's deliveries ended, one by one; it is forgotten."""
        causes = self.deaths.pop(invocation_id, _Deaths()).causes
        if len(causes) <= 1:
            return ""
        listed = "; ".join(f"attempt {n}: {why}" for n, why in enumerate(causes, 1))
        return f" It was delivered {len(causes)} times ({listed})."

    def finished(self, payload: bytes) -> None:
        """A delivery finished: forget the invocation's causes."""
        if self.deaths:
            self.deaths.pop(str(json.loads(payload).get("id")), None)
