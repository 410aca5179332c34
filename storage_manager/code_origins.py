"""Where the code a process sent by value came from, so remote tracebacks name real files.

cloudpickle saves functions that the executors cannot import (defined in `__main__`, a
notebook, a test module registered by value) with their code, and marks that code's file as
`DYNAMIC_FILENAME`: an executor running it knows neither the file nor its source lines. The
process that pickled the code does. `remember` is called for every code object pickled by
value (see `serialization`), and `filename_of` answers for the key an executor reports
(`code_key` of the running code), so the client can print the user's file and line.

Keys are the code's qualified name and first line: stable across the pickle round trip,
and distinct for distinct functions of one file. The registry is per process and only grows
with the distinct functions a process sends, as linecache's does with files.
"""

from __future__ import annotations

import threading
import types

DYNAMIC_FILENAME = "<dynamic-code>"
"""What cloudpickle (3.1.3 and later) puts in place of a by-value code object's file name."""

CodeKey = tuple[str, int]

_origins: dict[CodeKey, str] = {}
_lock = threading.Lock()


def code_key(code: types.CodeType) -> CodeKey:
    """What identifies a code object on both sides of a pickle round trip."""
    return getattr(code, "co_qualname", code.co_name), code.co_firstlineno


def remember(code: types.CodeType) -> None:
    """Note the file of a code object about to be pickled by value."""
    filename = code.co_filename
    if filename and filename != DYNAMIC_FILENAME:
        with _lock:
            _origins.setdefault(code_key(code), filename)


def filename_of(key: CodeKey) -> str | None:
    """The file of code this process pickled by value under `key`, if it did."""
    return _origins.get(key)
