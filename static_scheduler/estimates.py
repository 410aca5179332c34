"""What a plan knows of a job's tasks before they run: estimates learned from earlier jobs,
per task prefix (`dask.utils.key_split` of the key: `('add-9f1c', 3)` and `'add-77ab'` are
both `add`), as Dask distributed keeps its task durations. Every estimate is optional: a
prefix nobody has run yet has none, and the plan then keeps the paper's schedule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dask.utils import key_split


def task_prefixes(keys: Iterable[Any]) -> tuple[str, ...]:
    return tuple(key_split(key) for key in keys)


@dataclass(frozen=True)
class Estimates:
    """Per task prefix, as learned so far."""

    durations: Mapping[str, float] = field(default_factory=dict)
    """Seconds each task computes: which leaves are cheap enough to batch."""
    cpu_shares: Mapping[str, float] = field(default_factory=dict)
    """How much of its time each task kept a CPU busy: which tasks mostly wait."""
    output_bytes: Mapping[str, float] = field(default_factory=dict)
    """Bytes of each task's output in memory: which leaves' large outputs meet."""
    gil_free: Mapping[str, float] = field(default_factory=dict)
    """How much of its time each task left the GIL free: which can share cores as threads."""


def per_task(known: Mapping[str, float], prefixes: Sequence[str]) -> list[float | None]:
    """An estimate per task (None where its prefix has none)."""
    return [known.get(prefix) for prefix in prefixes]
