"""What one executor invocation carries: small, JSON, and under the platform's payload limit.

Besides naming the job and the task to start with, an invocation may carry small inputs of
that task inline (base64), so the new executor need not read them from Redis; more start
tasks (a batch of cheap leaves, see `Region`), as task indices, and how many of them may run
at once (a batch of tasks that mostly wait); or a leaf's seed (see `GraphSeed`), so the
executor runs the leaf before it has read the job's graph. An invoker may pass an invocation
over the platform's limit by reference instead: a payload naming the Redis key that holds the
full one (`PAYLOAD_KEY`, see `storage_manager.payloads`).

Every payload carries a keyed BLAKE3 tag under the deployment's key (`MAC_KEY`, see
`storage_manager.signing`) over its fields (`signed_fields`: every field, the raw bytes of
inputs and seed, not their base64), so it can be checked on a dict as Lambda hands the event
over, whatever JSON the payload went through. `from_event` checks it before anything is
decoded; the inputs and the seed are unpickled only later.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from storage_manager.protocol.delivery import DEFAULT_RETRIES, owner
from storage_manager.signing import Signer

DEFAULT_PAYLOAD_LIMIT = 256 * 1024
"""AWS Lambda's limit for asynchronous invocation payloads; the local runtime keeps it too."""


PAYLOAD_KEY = "payload_key"
"""The field of a payload passed by reference: the Redis key holding the full payload."""

MAC_KEY = "mac"
"""The field of a payload holding its tag (hex), absent when signing is off."""


class PayloadTooLarge(ValueError):
    """An invocation payload exceeds the platform's limit."""


@dataclass(frozen=True)
class Invocation:
    job: str
    task: int
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempt: int = 0
    sent_at: float = field(default_factory=time.time)
    via: str = ""
    """Who made the invocation for the caller: "proxy" for the KV proxy, else empty."""
    inputs: dict[int, bytes] = field(default_factory=dict)
    """Serialized outputs of some of the task's parents, by task index."""
    batch: tuple[int, ...] = ()
    """More tasks to start with, after `task`: the invocation runs a batch of leaves."""
    seed: bytes = b""
    """`task`'s encoded `GraphSeed`, if it carries one."""
    threads: int = 1
    """How many of its tasks the executor runs at once, each in a thread of its own."""
    handed_by: str = ""
    """The delivery (see `protocol.delivery`) that claimed `task` and hands it over, if any:
    this invocation may take that claim."""
    retries: int = DEFAULT_RETRIES
    """How many times the platform delivers it again if a delivery dies (`attempt` counts
    them), as the job's `wukong.retries` says."""
    replaces: tuple[str, ...] = ()
    """In a retry: the deliveries of this invocation that died (their owners, see
    `protocol.delivery`), which the platform knows ended: the one this retries and those it
    replaced in turn (it may have died before it ended their leases). Their leases end
    before this delivery claims anything, so their claims and pulled tasks may be taken
    over; no other delivery's are."""

    @property
    def tasks(self) -> tuple[int, ...]:
        """Every task this invocation starts with."""
        return (self.task, *self.batch)

    def signed_fields(self) -> list[bytes]:
        """What the payload's tag covers: a JSON header of every field, with the lengths of
        the inputs and the seed, then their bytes."""
        inputs = sorted(self.inputs.items())
        header = [self.job, self.task, self.id, self.attempt, float(self.sent_at), self.via,
                  list(self.batch), self.threads, [[t, len(d)] for t, d in inputs],
                  len(self.seed), self.handed_by, self.retries, list(self.replaces)]
        return [json.dumps(header).encode(), *(d for _, d in inputs), self.seed]

    def encode(self, signer: Signer, limit: int | None = DEFAULT_PAYLOAD_LIMIT) -> bytes:
        """The JSON payload, signed; raises `PayloadTooLarge` over `limit` bytes (None: no
        limit)."""
        event = {"job": self.job, "task": self.task, "id": self.id, "attempt": self.attempt,
                 "sent_at": self.sent_at, "via": self.via}  # not asdict: it deep-copies inputs
        if self.inputs:
            event["inputs"] = {str(t): base64.b64encode(d).decode()
                               for t, d in self.inputs.items()}
        if self.batch:
            event["batch"] = self.batch
        if self.seed:
            event["seed"] = base64.b64encode(self.seed).decode()
        if self.threads > 1:
            event["threads"] = self.threads
        if self.handed_by:
            event["handed_by"] = self.handed_by
        if self.retries != DEFAULT_RETRIES:
            event["retries"] = self.retries
        if self.replaces:
            event["replaces"] = list(self.replaces)
        _sign(event, signer, self.signed_fields())
        payload = json.dumps(event, separators=(",", ":")).encode()
        if limit is not None and len(payload) > limit:
            raise PayloadTooLarge(
                f"invocation payload for task {self.task} of job {self.job} is {len(payload)} "
                f"bytes, over the limit of {limit} (wukong.runtime.payload-limit)"
            )
        return payload

    def reference(self, key: str, signer: Signer) -> bytes:
        """A small payload standing for this one, whose full payload is stored at `key`."""
        event = {"job": self.job, "task": self.task, "id": self.id, PAYLOAD_KEY: key}
        _sign(event, signer, _reference_fields(event))
        return json.dumps(event, separators=(",", ":")).encode()

    @classmethod
    def from_event(cls, event: Mapping, signer: Signer) -> Invocation:
        """The invocation `event` carries, once its tag is checked (`Unauthenticated`, logged
        and counted, if not; `ValueError` if it is not an invocation at all)."""
        try:
            invocation = cls(
                job=str(event["job"]),
                task=int(event["task"]),
                id=str(event["id"]),
                attempt=int(event.get("attempt", 0)),
                sent_at=float(event.get("sent_at", 0.0)),
                via=str(event.get("via", "")),
                inputs={int(t): base64.b64decode(d)
                        for t, d in event.get("inputs", {}).items()},
                batch=tuple(int(t) for t in event.get("batch", ())),
                seed=base64.b64decode(event.get("seed", "")),
                threads=int(event.get("threads", 1)),
                handed_by=str(event.get("handed_by", "")),
                retries=int(event.get("retries", DEFAULT_RETRIES)),
                replaces=tuple(str(o) for o in event.get("replaces", ())),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a Wukong invocation ({type(exc).__name__}: {exc})") from exc
        _check(event, signer, invocation.signed_fields(), invocation.describe())
        return invocation

    @staticmethod
    def check_reference(event: Mapping, signer: Signer) -> str:
        """The key a payload passed by reference names, once its tag is checked."""
        _check(event, signer, _reference_fields(event),
               f"the invocation {event.get('id')!r} of task {event.get('task')!r} of job "
               f"{event.get('job')!r} (passed by reference)")
        return str(event[PAYLOAD_KEY])

    def retry(self, dead_nonce: str) -> Invocation:
        """The invocation of the next delivery after this one's delivery named `dead_nonce`
        (see `protocol.delivery.owner`; empty: a delivery that never started) died: the next
        attempt, replacing that delivery after those this one replaced."""
        dead = (owner(self.id, self.attempt, dead_nonce),) if dead_nonce else ()
        return dataclasses.replace(self, attempt=self.attempt + 1,
                                   replaces=(*self.replaces, *dead))

    def describe(self) -> str:
        return f"the invocation {self.id!r} of task {self.task} of job {self.job!r}"


def _reference_fields(event: Mapping) -> list[bytes]:
    return [json.dumps([event.get(k) for k in ("job", "task", "id", PAYLOAD_KEY)]).encode()]


def _sign(event: dict, signer: Signer, fields: list[bytes]) -> None:
    if signer.enabled:
        event[MAC_KEY] = signer.tag(fields).hex()


def _check(event: Mapping, signer: Signer, fields: list[bytes], what: str) -> None:
    if not signer.enabled:
        return
    try:
        tag = bytes.fromhex(str(event.get(MAC_KEY, "")))
    except ValueError:
        tag = b""
    signer.check(fields, tag, what)
