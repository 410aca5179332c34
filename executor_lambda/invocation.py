"""What one executor invocation carries: small, JSON, and under the platform's payload limit."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field

DEFAULT_PAYLOAD_LIMIT = 256 * 1024
"""AWS Lambda's limit for asynchronous invocation payloads; the local runtime keeps it too."""


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

    def encode(self, limit: int = DEFAULT_PAYLOAD_LIMIT) -> bytes:
        payload = json.dumps(asdict(self), separators=(",", ":")).encode()
        if len(payload) > limit:
            raise PayloadTooLarge(
                f"invocation payload for task {self.task} of job {self.job} is {len(payload)} "
                f"bytes, over the limit of {limit} (wukong.runtime.payload-limit)"
            )
        return payload

    @classmethod
    def from_event(cls, event: dict) -> Invocation:
        return cls(
            job=event["job"],
            task=int(event["task"]),
            id=event["id"],
            attempt=int(event.get("attempt", 0)),
            sent_at=float(event.get("sent_at", 0.0)),
            via=str(event.get("via", "")),
        )
