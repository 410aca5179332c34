"""The local runtime's retries of deliveries that died or timed out, as Lambda retries an
asynchronous invocation its function did not finish.

A delivery of an invocation from the runtime's own queue whose worker died or ran past the
timeout is delivered again with `attempt + 1`, up to the invocation's `retries`; the new
delivery takes over what the dead one claimed (see `executor_lambda.delivery`). Each cause
is kept until the invocation finishes or its retries are spent; then the job's log gets an
`ExecutorDied` naming the task, the attempts and every cause. A payload passed by reference
is not delivered again (its full payload is in Redis, not here): it fails at once, as
before.
"""

from __future__ import annotations

import dataclasses
import json

from storage_manager.protocol import PAYLOAD_KEY, Invocation
from storage_manager.signing import Signer, Unauthenticated


class Redeliveries:
    def __init__(self, signer: Signer):
        self.signer = signer
        self.causes: dict[str, list[str]] = {}
        """What ended each earlier delivery of the invocations being retried, by id."""

    def again(self, payload: bytes, why: str) -> bytes | None:
        """The payload of the next delivery of the one that ended for `why`; None once its
        retries are spent (`spent` then tells them)."""
        event = json.loads(payload)
        causes = self.causes.setdefault(str(event.get("id")), [])
        causes.append(why)
        if PAYLOAD_KEY in event:
            return None
        try:
            invocation = Invocation.from_event(event, self.signer)
        except (ValueError, Unauthenticated):  # the handler refused it already
            return None
        if invocation.attempt >= invocation.retries:
            return None
        retry = dataclasses.replace(invocation, attempt=invocation.attempt + 1)
        return retry.encode(self.signer, limit=None)

    def spent(self, invocation_id: str) -> str:
        """How the invocation's deliveries ended, one by one; it is forgotten."""
        causes = self.causes.pop(invocation_id, [])
        if len(causes) <= 1:
            return ""
        listed = "; ".join(f"attempt {n}: {why}" for n, why in enumerate(causes, 1))
        return f" It was delivered {len(causes)} times ({listed})."

    def finished(self, payload: bytes) -> None:
        """A delivery finished: forget the invocation's causes."""
        if self.causes:
            self.causes.pop(str(json.loads(payload).get("id")), None)
