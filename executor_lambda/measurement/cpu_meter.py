"""Whether a task computes or mostly waits: its CPU share, from a few clock reads around it."""

from __future__ import annotations

import time


class CpuMeter:
    """Whether a task computes or mostly waits (a remote call, I/O, a sleep), from a few
    clock reads around it on the thread that runs it.

    Its share is the time the task wanted a CPU over its wall time: the process's CPU time
    (the process's, not the thread's, so a task whose library computes in threads of its own
    does not look idle) plus the time this thread waited runnable for a CPU (the kernel's
    run delay, `/proc/thread-self/schedstat`), so a computing task starved of CPU on a
    crowded machine does not look idle either. Where the run delay is unknown (not Linux)
    it counts as zero."""

    def __init__(self) -> None:
        self._cpu = time.process_time()
        self._delay = run_delay_seconds()

    def share(self, wall_seconds: float) -> float:
        if wall_seconds <= 0:
            return 1.0
        wanted = time.process_time() - self._cpu + run_delay_seconds() - self._delay
        return max(0.0, min(1.0, wanted / wall_seconds))


def run_delay_seconds() -> float:
    """How long the calling thread has waited, runnable, for a CPU (0.0 if unknown)."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
