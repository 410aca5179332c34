"""Child processes that must not outlive the client that started them, and whose files are
private to the cluster's user."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
OUTPUT_SECONDS = 2.0
"""How long a stopped process's last output may take to be read: its children (workers) may
hold the pipe a little longer."""


def _set_parent_death_signal() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that SIGTERMs the child when the client dies (Linux).

    The kernel ties this signal to the thread that forked, so it is only armed from the main
    thread; a cluster started from a short-lived thread relies on `atexit` instead.
    """
    if sys.platform.startswith("linux") and threading.current_thread() is threading.main_thread():
        return _set_parent_death_signal
    return None


PRIVATE_UMASK = 0o077
"""Files and directories a cluster's processes create are their user's alone (0600, 0700)."""


def private_child() -> Callable[[], None]:
    """A `preexec_fn` for every process of a cluster: umask `PRIVATE_UMASK`, and the parent
    death signal where `die_with_parent` arms it."""
    die = die_with_parent()

    def prepare() -> None:
        os.umask(PRIVATE_UMASK)
        if die is not None:
            die()

    return prepare


def stop_process(process: subprocess.Popen, timeout: float = 15.0,
                 before_closing: Callable[[float], None] | None = None) -> None:
    """SIGTERM, then SIGKILL if it will not go; then `before_closing` (given a few seconds:
    e.g. to read what the process said last), and closes the pipes we held."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if before_closing is not None:
        before_closing(OUTPUT_SECONDS)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe:
            pipe.close()
