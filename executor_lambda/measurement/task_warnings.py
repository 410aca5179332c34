"""Warnings a task raises, recorded in the executor so the client can raise them again.

Under Dask's own schedulers a task's warnings reach the caller's filters (`pytest.warns`,
`-W error`, the "default" once-per-location display). In an executor they would only reach
its stderr. So each executor process lets every warning through (an "always" filter: the
client's filters decide) into a process-wide `warnings.showwarning` hook, which files it
with the task the warning's thread is running (`recording`, one per task run, kept per
thread: tasks may run at once on a pool, and `warnings.catch_warnings` is process-global).
The warnings travel in the task's event; the client raises each again with
`warnings.warn_explicit`, naming the task. A warning outside any task (Wukong's own, or a
thread a task started) is shown as Python would show it.
"""

from __future__ import annotations

import sys
import threading
import warnings
from dataclasses import replace
from typing import Any

from storage_manager.code_origins import DYNAMIC_FILENAME, code_key
from storage_manager.protocol import TaskWarning

_running = threading.local()
_show_untracked = warnings.showwarning


def install() -> None:
    """Let every warning through to the hook in this process (once; again if the hook was
    replaced since, e.g. by a `warnings.catch_warnings` that has ended)."""
    global _show_untracked
    if warnings.showwarning is not _record:
        _show_untracked = warnings.showwarning
        warnings.simplefilter("always")
        warnings.showwarning = _record


class recording:
    """The warnings raised in this thread while the block runs (a task's run), in the list
    it gives. (A class, not a generator: it wraps every task run.)"""

    __slots__ = ("_caught", "_outer")

    def __enter__(self) -> list[TaskWarning]:
        self._caught: list[TaskWarning] = []
        self._outer = getattr(_running, "caught", None)
        _running.caught = self._caught
        return self._caught

    def __exit__(self, *exc_info: object) -> None:
        _running.caught = self._outer


def _record(message: Warning | str, category: type[Warning], filename: str, lineno: int,
            file: Any = None, line: str | None = None) -> None:
    caught = getattr(_running, "caught", None)
    if caught is None:
        _show_untracked(message, category, filename, lineno, file, line)
        return
    frame = sys._getframe(1)
    while frame is not None and (frame.f_lineno != lineno
                                 or frame.f_code.co_filename != filename):
        frame = frame.f_back  # the frame that issued it: its module, and by-value code
    module = frame.f_globals.get("__name__") if frame is not None else None
    code = code_key(frame.f_code) if frame is not None and filename == DYNAMIC_FILENAME else None
    warning = TaskWarning(category, str(message), filename, lineno, module, code)
    if caught and caught[-1] == warning:
        caught[-1] = replace(caught[-1], count=caught[-1].count + 1)
    else:
        caught.append(warning)
