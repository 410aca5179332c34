"""What a job's executors and its platform do when a delivery dies or a task raises, read on
the client and carried in its `JobGraph` (and, for the platform, in each `Invocation`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from storage_manager.protocol.delivery import DEFAULT_LEASE_MS, DEFAULT_RETRIES


@dataclass(frozen=True)
class Recovery:
    retries: int = DEFAULT_RETRIES
    """How many times a delivery that died (or timed out, or was lost) is delivered again
    (`wukong.retries`)."""
    lease_ms: int = DEFAULT_LEASE_MS
    """How long a delivery's lease lives unless it refreshes it (`wukong.lease`)."""
    task_retries: Mapping[int, int] = field(default_factory=dict)
    """Tasks with Dask's `retries=` annotation, by index: how many times the task is run
    again in its executor when it raises; with 0, it is never run again, also not by a
    retried delivery."""

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"wukong.retries must be 0 or more, not {self.retries}")
        if self.lease_ms < 100:
            raise ValueError(f"wukong.lease must be at least 100 (ms), not {self.lease_ms}")
