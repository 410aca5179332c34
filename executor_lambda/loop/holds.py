"""Outputs an executor holds at fan-ins (delayed I/O): unwritten, unmarked, with a deadline.

A held output is a promise to the fan-ins still waiting for it: before its deadline the
executor re-checks them with claim-if-last marks (with backoff) whenever it has nothing else
to do; at the deadline, busy or not, it re-checks once more and only if they still wait
writes the output and marks it done as usual. Nothing here talks to Redis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FIRST_WAIT = 0.005
MAX_WAIT = 0.1
BACKOFF = 1.5


@dataclass
class Hold:
    deadline: float
    fan_ins: set[int] = field(default_factory=set)


class Holds:
    def __init__(self) -> None:
        self.pending: dict[int, Hold] = {}
        self._wait = FIRST_WAIT

    def __bool__(self) -> bool:
        return bool(self.pending)

    def add(self, task: int, fan_ins: set[int], deadline: float) -> None:
        if fan_ins:
            self.pending[task] = Hold(deadline, set(fan_ins))
            self._wait = FIRST_WAIT

    def parents_at(self, fan_in: int) -> list[int]:
        """The held outputs waiting at `fan_in`: marked claim-if-last by every mark there."""
        return [t for t, hold in self.pending.items() if fan_in in hold.fan_ins]

    def fan_ins(self) -> set[int]:
        return {f for hold in self.pending.values() for f in hold.fan_ins}

    def settle(self, fan_in: int) -> None:
        """`fan_in` was claimed here: no held output waits for it any more."""
        for task in self.parents_at(fan_in):
            self.pending[task].fan_ins.discard(fan_in)
            if not self.pending[task].fan_ins:
                del self.pending[task]

    def due(self, now: float) -> set[int]:
        """The fan-ins of the holds whose time is up."""
        return {f for hold in self.pending.values() if hold.deadline <= now
                for f in hold.fan_ins}

    def expire(self, now: float) -> dict[int, set[int]]:
        """Drop the holds whose time is up; their fan-ins, by task."""
        due = [t for t, hold in self.pending.items() if hold.deadline <= now]
        return {t: self.pending.pop(t).fan_ins for t in due}

    def next_wait(self, now: float) -> float:
        """How long to sleep before the next re-check: growing, never past a deadline."""
        nearest = min(hold.deadline for hold in self.pending.values())
        wait = max(0.0, min(self._wait, nearest - now))
        self._wait = min(MAX_WAIT, self._wait * BACKOFF)
        return wait
