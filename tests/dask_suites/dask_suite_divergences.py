"""The documented divergences: tests of Dask's suites that fail under Wukong and cannot pass
there, read from divergences.yaml and rendered into docs/dask-compatibility.md.

divergences.yaml holds entries of a title, a reason, the test ids it explains and optionally
`message`, text the failure's message must contain. Ids are node ids relative to the
installed dask package; `*` matches any characters (for Dask's parametrized ids), nothing
else is special (brackets match themselves).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
DIVERGENCES = HERE / "divergences.yaml"
DOCS = HERE.parents[1] / "docs" / "dask-compatibility.md"


@dataclass(frozen=True)
class Divergence:
    """A test id (or pattern) that fails under Wukong only, and why it cannot pass there."""

    test: str
    title: str
    reason: str
    message: str = ""
    """Text the failure's message must contain, if any: the failure this entry expects."""
    _regex: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pattern = ".*".join(re.escape(part) for part in self.test.split("*"))
        object.__setattr__(self, "_regex", re.compile(pattern))

    def explains(self, node_id: str, message: str) -> bool:
        return self._regex.fullmatch(node_id) is not None and self.message in message


def load_divergences(path: Path = DIVERGENCES) -> list[Divergence]:
    """The list, in file order; `ValueError` names an entry without a title, a reason or
    tests."""
    found = []
    for i, entry in enumerate(yaml.safe_load(path.read_text()) or []):
        title, reason, tests = entry.get("title"), entry.get("reason"), entry.get("tests")
        message = entry.get("message") or ""
        texts = [title, reason, message, *(tests or [])]
        if not all(isinstance(t, str) for t in texts) or not title or not reason or not tests:
            raise ValueError(f"{path}: entry {i} needs a title, a reason and test ids")
        found += [Divergence(t, title, " ".join(reason.split()), message) for t in tests]
    return found


BEGIN = "<!-- divergences: rendered from tests/dask_suites/divergences.yaml -->"
END = "<!-- end of divergences -->"


def render_divergences(divergences: list[Divergence]) -> str:
    """The list as the docs page shows it: a section per entry, its reason, then its tests."""
    entries: dict[tuple[str, str, str], list[str]] = {}
    for d in divergences:
        entries.setdefault((d.title, d.reason, d.message), []).append(d.test)
    parts = [BEGIN]
    for (title, reason, message), tests in entries.items():
        failing = f", failing with `{message}`" if message else ""
        parts += ["", f"### {title}", "", reason, "", f"Tests{failing}:", "",
                  *(f"- `{t}`" for t in tests)]
    return "\n".join([*parts, "", END])


def docs_with_divergences(docs: str, divergences: list[Divergence]) -> str:
    """The docs page with its rendered section replaced by the current list."""
    start, end = docs.index(BEGIN), docs.index(END) + len(END)
    return docs[:start] + render_divergences(divergences) + docs[end:]
