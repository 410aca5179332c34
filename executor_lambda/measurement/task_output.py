"""What a task prints, recorded in the executor so the client can show it.

Under Dask's own schedulers a task's `print` reaches the caller's terminal. In an executor
its stdout is the platform's (a pipe of the local runtime, CloudWatch on Lambda), and a
task must never wait for whoever reads it. So each executor process replaces `sys.stdout`
and `sys.stderr` with streams that file what is written with the task the writing thread
runs (`capturing`, one per task run, kept per thread: tasks may run at once on a pool), in
memory: writing never blocks. Of each stream a task keeps at most `LIMIT_CHARS` characters,
and a note says how many more there were. The text travels in the task's event (`Printed`);
the client writes it to its own stdout and stderr, each line prefixed with the task's key.

Writes outside any task (Wukong's own, or a thread a task started) and writes to the file
descriptors themselves (C code, subprocesses) go to the process's original streams.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import TextIO

from storage_manager.protocol import NOTHING_PRINTED, Printed

LIMIT_CHARS = 4 * 1024 * 1024
"""Characters of each stream one task keeps: enough for any log a person reads, and a
bound on what one task's event carries."""

_running = threading.local()


class _Capture:
    """One task's output so far, per stream, bounded."""

    __slots__ = ("dropped", "kept", "parts")

    def __init__(self) -> None:
        self.parts: tuple[list[str], list[str]] = ([], [])
        self.kept = [0, 0]
        self.dropped = [0, 0]

    def write(self, stream: int, text: str) -> None:
        room = LIMIT_CHARS - self.kept[stream]
        if len(text) > room:
            self.dropped[stream] += len(text) - room
            text = text[:room]
        if text:
            self.parts[stream].append(text)
            self.kept[stream] += len(text)

    def printed(self) -> Printed:
        if not (self.kept[0] or self.kept[1] or self.dropped[0] or self.dropped[1]):
            return NOTHING_PRINTED
        out, err = ("".join(parts) + _note(dropped)
                    for parts, dropped in zip(self.parts, self.dropped, strict=True))
        return Printed(out, err)


def _note(dropped: int) -> str:
    return f"\n[{dropped:,} more characters not kept]\n" if dropped else ""


class _TaskStream(io.TextIOBase):
    """`sys.stdout` or `sys.stderr` of an executor process: a running task's writes go to
    its capture, all others to the original stream."""

    def __init__(self, stream: int, original: TextIO):
        self._stream = stream
        self.original = original

    def write(self, text: str) -> int:
        capture = getattr(_running, "capture", None)
        if capture is None:
            return self.original.write(text)
        capture.write(self._stream, text)
        return len(text)

    def flush(self) -> None:
        if getattr(_running, "capture", None) is None:
            self.original.flush()

    def fileno(self) -> int:
        return self.original.fileno()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", None) or "utf-8"


def install() -> None:
    """Route this process's `sys.stdout` and `sys.stderr` through the task streams (once;
    again if something replaced them since)."""
    if not isinstance(sys.stdout, _TaskStream):
        sys.stdout = _TaskStream(0, sys.stdout)
    if not isinstance(sys.stderr, _TaskStream):
        sys.stderr = _TaskStream(1, sys.stderr)


class capturing:
    """What this thread prints while the block runs (a task's run): once it ends, the list
    it gave holds one `Printed`. (A class, not a generator: it wraps every task run.)"""

    __slots__ = ("_capture", "_outer", "_result")

    def __enter__(self) -> list[Printed]:
        self._result: list[Printed] = []
        self._outer = getattr(_running, "capture", None)
        self._capture = _running.capture = _Capture()
        return self._result

    def __exit__(self, *exc_info: object) -> None:
        _running.capture = self._outer
        self._result.append(self._capture.printed())
