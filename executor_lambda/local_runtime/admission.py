"""How many invocations the local runtime lets run at once: enough to keep the cores busy,
and more only while the running ones wait on something other than a core.

The cap starts at the number of cores. When work waits, the cap is full and no running
invocation finished for `STALL_SECONDS`, the busy workers' scheduler statistics
(`/proc/<pid>/schedstat`: time on a core and waiting for one; `/proc/<pid>/stat`: runnable
now) say what they did in that window. If they left at least half a core unused (they sleep,
wait for I/O, or hold an output at a fan-in whose other parents wait behind the cap), the
cap grows to admit all the waiting work at once, up to the concurrency limit: a burst of
blocking invocations gets all the parallelism it can use in one step. If they kept the
cores busy or waited for one (a CPU-bound burst, or workers' first invocations of a job
loading its graph), the cap stays, so short CPU-bound work is not spread over a hundred
processes fighting for two cores, each paying its own start-up costs (TR over 4,096 leaves
had 256 workers each load the 1 MB graph: 3x the worker CPU).
Whatever the cores do, a full cap with nothing finished for `STARVE_SECONDS` doubles, so no
invocation waits long for a slot held by one that waits for it. When the runtime falls idle
the cap returns to the core count. Without `/proc` (not Linux)
every stall counts as blocking, the rule before these statistics were used.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

STALL_SECONDS = 0.005
IDLE_CORES = 0.5
"""Grow when the busy workers left at least this many cores' worth of the window unused:
neither ran nor waited to run."""
STARVE_SECONDS = 0.1
"""However busy the cores, a full cap with nothing finished for this long at least doubles:
a running invocation may be waiting for one that waits behind the cap."""
CORES = os.cpu_count() or 1


def cpu_ns(pid: int) -> int | None:
    """Nanoseconds the process spent on a core or runnable waiting for one; None if unknown.
    The kernel adds a wait for a core only once it ends, so see also `runnable`."""
    try:
        with open(f"/proc/{pid}/schedstat", "rb") as f:
            on_cpu, waiting, _ = f.read().split()
    except (OSError, ValueError):
        return None
    return int(on_cpu) + int(waiting)


def runnable(pid: int) -> bool:
    """The process is on a core or waiting for one right now (state R)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rpartition(b")")[2].split(None, 1)[0] == b"R"
    except (OSError, IndexError):
        return False


class Admission:
    def __init__(self, limit: int):
        self.limit = limit
        self.base = min(CORES, limit)
        self.cap = self.base
        self._window: tuple[float, dict[int, int | None]] | None = None
        self._progress = time.monotonic()
        """When an invocation last finished, or the cap last grew."""

    def full(self, busy: int, waiting: int) -> bool:
        """Work waits behind a cap that may still grow: worth a stall window (at the limit,
        the workers' statistics could change nothing, so they are not read)."""
        return bool(waiting) and busy >= self.cap and self.cap < self.limit

    def open_window(self, busy_pids: Iterable[int]) -> None:
        """Note where the busy workers stand before waiting out a stall window."""
        self._window = (time.monotonic(), {pid: cpu_ns(pid) for pid in busy_pids})

    def stalled(self, busy: int, waiting: int) -> None:
        """Nothing finished in the window while `waiting` invocations waited."""
        if self._window is None or not waiting:
            return
        if self._cores_left_idle():
            self._grow(max(self.cap * 2, busy + waiting))
        elif time.monotonic() - self._progress >= STARVE_SECONDS:
            self._grow(self.cap * 2)
        self._window = None

    def finished(self) -> None:
        self._progress = time.monotonic()

    def idle(self) -> None:
        self.cap = self.base
        self._window = None

    def _grow(self, cap: int) -> None:
        self.cap = min(self.limit, cap)
        self._progress = time.monotonic()

    def _cores_left_idle(self) -> bool:
        start, before = self._window
        elapsed_ns = (time.monotonic() - start) * 1e9
        if elapsed_ns <= 0 or not before:
            return True
        active = 0.0
        for pid, was in before.items():
            now = cpu_ns(pid)
            if was is None or now is None:
                return True
            active += elapsed_ns if runnable(pid) else min(now - was, elapsed_ns)
        return active <= (CORES - IDLE_CORES) * elapsed_ns
