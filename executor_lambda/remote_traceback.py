"""A task's traceback as data, taken where the task failed and printed where it is raised.

An executor cannot always print a useful traceback: code that the client sent by value
(functions of `__main__`, a notebook, a script) runs there from a file name of
`DYNAMIC_FILENAME` and without its source. So the executor keeps each frame's file, line
and function, plus the key of by-value code (`code_key`), and the client, which pickled
that code and remembered its file (`code_origins`), prints the user's file name and source
line in its place. Chained exceptions (`raise ... from`, an error while handling another)
are kept as Python prints them: oldest first, each with the sentence that links it.
"""

from __future__ import annotations

import linecache
import traceback
from dataclasses import dataclass
from types import TracebackType

from storage_manager.code_origins import DYNAMIC_FILENAME, CodeKey, code_key, filename_of

CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


@dataclass(frozen=True)
class RemoteFrame:
    filename: str
    lineno: int
    name: str
    line: str
    """The source line as the executor read it ('' where it could not)."""
    code: CodeKey | None = None
    """The key of code sent by value, whose file only its sender knows."""

    def located(self) -> tuple[str, int, str, str]:
        """(file, line number, function, source line), by-value code mapped to its file."""
        filename = self.filename
        if self.code is not None:
            filename = filename_of(self.code) or filename
        line = self.line or linecache.getline(filename, self.lineno).strip()
        return filename, self.lineno, self.name, line


@dataclass(frozen=True)
class RemoteException:
    frames: tuple[RemoteFrame, ...]
    summary: tuple[str, ...]
    """`traceback.format_exception_only`'s lines: the type, the message, any notes."""
    link: str = ""
    """How it follows the exception printed before it (CAUSE, CONTEXT), or ''."""


@dataclass(frozen=True)
class RemoteTraceback:
    chain: tuple[RemoteException, ...] = ()

    @classmethod
    def of(cls, exc: BaseException) -> RemoteTraceback:
        chain: list[RemoteException] = []
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            if current.__cause__ is not None:
                following, link = current.__cause__, CAUSE
            elif current.__context__ is not None and not current.__suppress_context__:
                following, link = current.__context__, CONTEXT
            else:
                following, link = None, ""
            summary = traceback.format_exception_only(type(current), current)
            chain.append(RemoteException(_frames(current.__traceback__), tuple(summary),
                                         link if following is not None else ""))
            current = following
        return cls(tuple(reversed(chain)))

    def __bool__(self) -> bool:
        return bool(self.chain)

    def format(self) -> str:
        """The traceback as Python prints it, by-value code located in this process."""
        parts: list[str] = []
        for exc in self.chain:
            parts.append(exc.link)
            if exc.frames:
                parts.append("Traceback (most recent call last):\n")
                frames = [frame.located() for frame in exc.frames]
                parts.extend(traceback.StackSummary.from_list(frames).format())
            parts.extend(exc.summary)
        return "".join(parts)


def _frames(tb: TracebackType | None) -> tuple[RemoteFrame, ...]:
    frames = []
    for frame, lineno in traceback.walk_tb(tb):
        code = frame.f_code
        dynamic = code.co_filename == DYNAMIC_FILENAME
        line = "" if dynamic else linecache.getline(code.co_filename, lineno).strip()
        frames.append(RemoteFrame(code.co_filename, lineno or 0, code.co_name, line,
                                  code_key(code) if dynamic else None))
    return tuple(frames)
