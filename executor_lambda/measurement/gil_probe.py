"""How much of a task's time its thread left the GIL free: whether tasks like it can share
one executor's cores as threads.

A task that computes in a C library that releases the GIL (BLAS, LAPACK, numpy's loops on
large arrays) runs in parallel with others of its kind in threads of one process, as in
Dask's threaded scheduler; then tasks whose large outputs meet can run in one executor on
all its cores, and those outputs never cross Redis. A task that holds the GIL (Python code)
cannot.

A probe thread wakes every `TICK_SECONDS` while a task is measured and counts a tick each
time it gets the GIL back. With the GIL free it gets it at once; with the task holding it,
only when CPython hands it over after its switch interval (`sys.getswitchinterval()`,
several ticks long), so ticks come several times rarer. The share is ticks times the tick
over the task's wall time. One probe serves a process: the executor measures one task at a
time, on its main thread.
"""

from __future__ import annotations

import threading
import time

TICK_SECONDS = 0.001
MIN_SECONDS = 0.01
"""Shorter tasks are not measured: too few ticks to tell."""


class GilProbe:
    def __init__(self) -> None:
        self._active = threading.Event()
        self._ticks = 0
        self._ticks_at_start = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """A task starts on the calling thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._tick, name="gil-probe", daemon=True)
            self._thread.start()
        self._ticks_at_start = self._ticks
        self._active.set()

    def share(self, wall_seconds: float) -> float | None:
        """The task ended after `wall_seconds`: the share of them the GIL was free, or None
        if it was too short to tell."""
        self._active.clear()
        if wall_seconds < MIN_SECONDS:
            return None
        return min(1.0, (self._ticks - self._ticks_at_start) * TICK_SECONDS / wall_seconds)

    def _tick(self) -> None:
        while True:
            self._active.wait()
            time.sleep(TICK_SECONDS)
            self._ticks += 1
