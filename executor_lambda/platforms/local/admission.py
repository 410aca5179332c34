"""How many invocations the local runtime lets run at once: enough to keep the cores busy,
and more only while the running ones wait on something other than a core.

The cap starts at the number of cores. When work waits, the cap is full and no running
invocation finished for `STALL_SECONDS`, the busy workers' scheduler statistics
(`/proc/<pid>/schedstat`: time on a core and waiting for one; `/proc/<pid>/stat`: runnable
now) say what they did in that window. If they left at least half a core unused (they sleep,
wait for I/O, or hold an output at a fan-in whose other parents wait behind the cap), the
cap grows: the first time, to as many workers as would fill the cores at the share of a
core each busy one used (`busy * CORES / active`); if the next window judged, within
`STARVE_SECONDS`, finds cores idle again, to all the waiting work. So a burst of workers
that all sleep admits everything at once, and a mixed one within two windows, while
workers that only paused for a round trip to a Redis short of a core (its CPU is not
theirs) admit a few more, not a hundred (every new worker costs CPU to fork and warm up, and
CPU-bound workers beyond the cores each pay their own start-up costs). If they kept the
cores busy or waited for one, or other processes (Redis, the client, the proxy) fill the
cores at the moment of judging, the cap stays. A window is judged only once it is
`STALL_SECONDS` old. While other processes fill the cores, a full cap with nothing finished
for `STARVE_SECONDS` doubles, so no invocation waits long for a slot held by one that waits
for it. Workers that fill the cores themselves wait for nothing (an executor that waits for
another blocks, and looks idle), so however long their tasks run the cap stays. When the
runtime falls idle the cap returns to the core count. Without `/proc` (not Linux) every
stall counts as blocking.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterable

STALL_SECONDS = 0.005
ARM_SECONDS = 0.001
"""How long the cap must be full with nothing finished before a stall window opens."""
IDLE_CORES = 0.5
"""Grow when the busy workers left at least this many cores' worth of the window unused:
neither ran nor waited to run."""
STARVE_SECONDS = 0.1
"""While other processes fill the cores, a full cap with nothing finished for this long at
least doubles: a running invocation may be waiting for one that waits behind the cap."""
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


def others_fill_cores(workers_running: int = 0) -> bool:
    """Besides the caller and the `workers_running` it judges, as many processes as cores
    are running or waiting to run right now (`/proc/loadavg`). Workers blocked on a Redis,
    client or proxy that keep the cores busy look idle to the workers' own statistics, so
    a cap judged by those alone would grow without end. Without `/proc`: False."""
    try:
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return False
    return running - 1 - workers_running >= CORES


class Admission:
    def __init__(self, limit: int):
        self.limit = limit
        self.base = min(CORES, limit)
        self.cap = self.base
        self._window: tuple[float, dict[int, int | None]] | None = None
        self._armed: float | None = None
        """When the cap was last seen full with work waiting, before a window opened."""
        self._progress = time.monotonic()
        """When an invocation last finished, or the cap last grew."""
        self._idle_at = -math.inf
        """When the last window judged found cores left idle (if it did)."""
        self._crowded = False
        """Whether other processes filled the cores when the open window opened."""
        self._idle = True
        """Nothing ran since the runtime fell idle: the time before is no starvation."""

    def full(self, busy: int, waiting: int) -> bool:
        """Work waits behind a cap that may still grow: worth a stall window (at the limit,
        the workers' statistics could change nothing, so they are not read)."""
        return bool(waiting) and busy >= self.cap and self.cap < self.limit

    def open_window(self, busy_pids: Iterable[int]) -> float:
        """Note where the busy workers stand, unless a stall window is already open; the
        seconds to wait before calling again (or judging the window). The statistics are
        read only once the cap has been full for `ARM_SECONDS` with nothing finished: with
        short invocations something nearly always finishes first, so two files per busy
        worker are not read after every invocation.
        (The dispatcher leaves out workers still on their first invocation when others are
        busy: a cold start's CPU says nothing about what the work needs.)"""
        now = time.monotonic()
        if self._window is None:
            if self._armed is None:
                self._armed = now
            if self._idle:
                self._progress, self._idle = now, False
            if now - self._armed < ARM_SECONDS:
                return self._armed + ARM_SECONDS - now
            self._window = (now, {pid: cpu_ns(pid) for pid in busy_pids})
            self._crowded = others_fill_cores(sum(map(runnable, self._window[1])))
        return max(0.0, self._window[0] + STALL_SECONDS - now)

    def stalled(self, busy: int, waiting: int) -> None:
        """Nothing finished while `waiting` invocations waited. Judged only once the window
        is `STALL_SECONDS` old: woken earlier (more work arrived), a worker caught between
        two calls to Redis would look asleep."""
        if self._window is None or not waiting:
            return
        if time.monotonic() - self._window[0] < STALL_SECONDS:
            return
        running = {pid for pid in self._window[1] if runnable(pid)}
        measured, active = len(self._window[1]), self._active_cores(running)
        crowded = self._crowded and others_fill_cores(len(running))  # both ends: no spike
        if (active is None or active <= CORES - IDLE_CORES) and not crowded:
            enough = busy + waiting
            now = time.monotonic()
            if active and now - self._idle_at >= STARVE_SECONDS:
                enough = min(enough, max(busy + 1, math.ceil(measured * CORES / active)))
            self._idle_at = now
            self._grow(enough)
        else:
            self._idle_at = -math.inf
            if crowded and time.monotonic() - self._progress >= STARVE_SECONDS:
                self._grow(self.cap * 2)
        self._window = self._armed = None

    def finished(self) -> None:
        self._progress = time.monotonic()
        self._window = self._armed = None

    def idle(self) -> None:
        self.cap = self.base
        self._window = self._armed = None
        self._idle_at = -math.inf
        self._idle = True

    def _grow(self, cap: int) -> None:
        self.cap = min(self.limit, cap)
        self._progress = time.monotonic()

    def _active_cores(self, running: set[int]) -> float | None:
        """How many cores' worth of the window the busy workers ran or waited to run (those
        `running` now count in full); None if unknown."""
        start, before = self._window
        elapsed_ns = (time.monotonic() - start) * 1e9
        if elapsed_ns <= 0 or not before:
            return None
        active = 0.0
        for pid, was in before.items():
            now = cpu_ns(pid)
            if was is None or now is None:
                return None
            active += elapsed_ns if pid in running else min(now - was, elapsed_ns)
        return active / elapsed_ns
