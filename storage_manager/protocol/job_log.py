"""The job's log: the notices the client follows, one stream entry each.

Executors append a `RESULT` when a requested output is written and an `ERROR` when a task
fails; the platform appends an `ERROR` when an executor dies or times out, and a `CANCELLED`
when it has stopped a cancelled job's executors (see `cancel`). The client reads
them in order; the first error ends the job. Entries are idempotent for the client: a
duplicated announcement of a result it already has is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

RESULT = "result"
ERROR = "error"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class LogEntry:
    kind: str
    """`RESULT`, `ERROR` or `CANCELLED`."""
    task: int
    data: bytes = b""
    """For an error, the encoded `TaskFailure`; empty for a result (its value is the
    task's output key)."""

    @property
    def is_error(self) -> bool:
        return self.kind == ERROR

    def fields(self) -> tuple[str, str, str, int, str, bytes]:
        """The stream entry's field-value pairs, flat, as XADD takes them."""
        return ("kind", self.kind, "task", self.task, "data", self.data)

    @classmethod
    def decode(cls, fields: Mapping[bytes, bytes]) -> LogEntry:
        return cls(fields[b"kind"].decode(), int(fields[b"task"]), fields.get(b"data", b""))
