"""Whether a task computes or mostly waits: its CPU share, from a few clock reads around it."""

from __future__ import annotations

import threading
import time


class CpuMeter:
    """Whether a task computes or mostly waits (a remote call, I/O, a sleep), from a few
    clock reads around it on the thread that runs it.

    Its share is the process's CPU time over the task's wall time less the time this thread
    waited, runnable, for a CPU (the kernel's run delay, `/proc/thread-self/schedstat`): the
    process's CPU time, so a task whose library computes in threads of its own does not look
    idle; less the run delay, so that neither a computing task starved of CPU on a crowded
    machine nor a sleeping one that waits for a CPU after it wakes is judged by the crowd.
    Where the run delay is unknown (not Linux) it counts as zero.

    It is made on the thread that runs the task; `share` may be read from any thread, also
    while the task runs (the share so far)."""

    def __init__(self) -> None:
        self._thread = threading.get_native_id()
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._delay = run_delay_seconds(self._thread)

    def share(self, wall_seconds: float | None = None) -> float:
        """The share over `wall_seconds` of the task's time (default: all since the meter
        was made)."""
        if wall_seconds is None:
            wall_seconds = time.perf_counter() - self._wall
        own = wall_seconds - (run_delay_seconds(self._thread) - self._delay)
        if own <= 0:
            return 1.0
        return max(0.0, min(1.0, (time.process_time() - self._cpu) / own))


def run_delay_seconds(thread: int | None = None) -> float:
    """How long a thread (by native id; default the calling one) has waited, runnable, for a
    CPU (0.0 if unknown)."""
    path = f"/proc/self/task/{thread}/schedstat" if thread else "/proc/thread-self/schedstat"
    try:
        with open(path, "rb") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
