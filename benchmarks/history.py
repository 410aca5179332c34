"""The `## History` section of a results file: dated `### ` sections, newest first.

`python -m benchmarks` rewrites a file's tables and carries its history over
(`kept_history`); the other benchmark commands add their section on top of it
(`add_section`).
"""

from __future__ import annotations

import datetime
import pathlib

HISTORY = "## History\n"
NEW_FILE = "# Benchmark results\n"


def now() -> str:
    """The time a section is dated with."""
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def kept_history(path: pathlib.Path) -> str:
    """The `## History` section of an earlier results file, to carry over ('' if none)."""
    if not path.exists():
        return ""
    text = path.read_text()
    start = text.find(HISTORY)
    return "\n" + text[start:] if start >= 0 else ""


def add_section(markdown: pathlib.Path, section: str) -> None:
    """Put `section` (a `### ` heading and its text) first in the file's history; the
    history, and the file, are made if there are none."""
    text = markdown.read_text() if markdown.exists() else NEW_FILE
    section = section.rstrip("\n") + "\n\n"
    head, found, rest = text.partition(HISTORY)
    if not found:
        markdown.write_text(f"{text.rstrip()}\n\n{HISTORY}\n{section}")
        return
    intro, marker, older = rest.partition("\n### ")
    markdown.write_text(f"{head}{HISTORY}{intro.rstrip()}\n\n{section}"
                        f"{marker.lstrip() + older if marker else ''}")
