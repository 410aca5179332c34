"""Whether a task computes or mostly waits: its CPU share, from a few clock reads around it."""

from __future__ import annotations

import io
import os
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
        self._schedstat = _own_schedstat()
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        self._delay = _run_delay(self._schedstat)

    def share(self, wall_seconds: float | None = None) -> float:
        """The share over `wall_seconds` of the task's time (default: all since the meter
        was made)."""
        if wall_seconds is None:
            wall_seconds = time.perf_counter() - self._wall
        own = wall_seconds - (_run_delay(self._schedstat) - self._delay)
        if own <= 0:
            return 1.0
        return max(0.0, min(1.0, (time.process_time() - self._cpu) / own))


_this_thread = threading.local()


def _own_schedstat() -> io.FileIO | None:
    """The calling thread's `/proc/thread-self/schedstat`, opened once per thread and read
    again from its start each time (None: not Linux). It refers to the thread that opened
    it, whichever thread reads it, and closes once that thread's locals are gone."""
    try:
        return _this_thread.schedstat
    except AttributeError:
        try:
            _this_thread.schedstat = open(  # noqa: SIM115 (kept open for the thread's life)
                "/proc/thread-self/schedstat", "rb", buffering=0)
        except OSError:
            _this_thread.schedstat = None
        return _this_thread.schedstat


def _forget_schedstat() -> None:
    """A forked child's thread is not the one that opened its parent's file."""
    vars(_this_thread).pop("schedstat", None)


os.register_at_fork(after_in_child=_forget_schedstat)


def _run_delay(schedstat: io.FileIO | None) -> float:
    """How long the thread whose `schedstat` this is has waited, runnable, for a CPU (0.0
    if unknown, or once that thread has ended)."""
    if schedstat is None:
        return 0.0
    try:
        return int(os.pread(schedstat.fileno(), 128, 0).split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
