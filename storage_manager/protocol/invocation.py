"""What one executor invocation carries: small, JSON, and under the platform's payload limit.

Besides naming the job and the task to start with, an invocation may carry small inputs of
that task inline (base64), so the new executor need not read them from Redis; more start
tasks (a batch of cheap leaves, see `Region`), as task indices, and how many of them may run
at once (a batch of tasks that mostly wait); or a leaf's seed (see `GraphSeed`), so the
executor runs the leaf before it has read the job's graph. An invoker may pass an invocation
over the platform's limit by reference instead: a payload naming the Redis key that holds the
full one (`PAYLOAD_KEY`, see `storage_manager.payloads`).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass, field

DEFAULT_PAYLOAD_LIMIT = 256 * 1024
"""AWS Lambda's limit for asynchronous invocation payloads; the local runtime keeps it too."""


PAYLOAD_KEY = "payload_key"
"""The field of a payload passed by reference: the Redis key holding the full payload."""


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

    @property
    def tasks(self) -> tuple[int, ...]:
        """Every task this invocation starts with."""
        return (self.task, *self.batch)

    def encode(self, limit: int | None = DEFAULT_PAYLOAD_LIMIT) -> bytes:
        """The JSON payload; raises `PayloadTooLarge` over `limit` bytes (None: no limit)."""
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
        payload = json.dumps(event, separators=(",", ":")).encode()
        if limit is not None and len(payload) > limit:
            raise PayloadTooLarge(
                f"invocation payload for task {self.task} of job {self.job} is {len(payload)} "
                f"bytes, over the limit of {limit} (wukong.runtime.payload-limit)"
            )
        return payload

    def reference(self, key: str) -> bytes:
        """A small payload standing for this one, whose full payload is stored at `key`."""
        event = {"job": self.job, "task": self.task, "id": self.id, PAYLOAD_KEY: key}
        return json.dumps(event, separators=(",", ":")).encode()

    @classmethod
    def from_event(cls, event: dict) -> Invocation:
        return cls(
            job=event["job"],
            task=int(event["task"]),
            id=event["id"],
            attempt=int(event.get("attempt", 0)),
            sent_at=float(event.get("sent_at", 0.0)),
            via=str(event.get("via", "")),
            inputs={int(t): base64.b64decode(d) for t, d in event.get("inputs", {}).items()},
            batch=tuple(int(t) for t in event.get("batch", ())),
            seed=base64.b64decode(event.get("seed", "")),
            threads=int(event.get("threads", 1)),
        )
