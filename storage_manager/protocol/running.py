"""Records of the job's invocations that run on a platform which reports nothing when it ends
one (AWS Lambda: a timeout, running out of memory, a crash), on the job's `running` stream
(`JobKeys.running`): each invocation appends that it started, with the milliseconds it had
left, and that it ended, each naming the delivery (`run`: one invocation may be delivered
more than once). Its deadline is the start entry's id (the Redis server's clock) plus the
time it had left, so no two clocks are compared. A start carries the delivery's attempt and
its payload (signed, as it was delivered), so the client can deliver it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ENDED = -1


@dataclass(frozen=True)
class RunningRecord:
    invocation: str
    """The invocation's id."""
    task: int
    """The task it started with; `ENDED` in the record of its end."""
    left_ms: int = 0
    """Milliseconds it had left when it started."""
    run: str = ""
    """Which delivery of the invocation: the nonce of its owner (see `protocol.delivery`)."""
    attempt: int = 0
    payload: bytes = b""
    """The invocation's payload, in the record of its start."""

    @property
    def ended(self) -> bool:
        return self.task == ENDED

    def fields(self) -> tuple:
        """The stream entry's field-value pairs, flat, as XADD takes them."""
        flat: tuple = ("id", self.invocation, "task", self.task, "left", self.left_ms,
                       "run", self.run)
        if self.payload:
            flat += ("attempt", self.attempt, "payload", self.payload)
        return flat

    @classmethod
    def decode(cls, fields: Mapping[bytes, bytes]) -> RunningRecord:
        return cls(fields[b"id"].decode(), int(fields[b"task"]), int(fields[b"left"]),
                   fields.get(b"run", b"").decode(), int(fields.get(b"attempt", 0)),
                   fields.get(b"payload", b""))


def entry_ms(entry_id: bytes | str) -> int:
    """When the server added a stream entry, in its milliseconds since the epoch."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])
