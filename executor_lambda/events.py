"""Per-task events an executor records and ships, once per step, to the job's log."""

from __future__ import annotations

from dataclasses import dataclass, field

from executor_lambda.task_warnings import TaskWarning


@dataclass(frozen=True)
class TaskEvent:
    task: int
    start: float
    end: float
    compute_seconds: float
    storage_seconds: float
    round_trips: int
    bytes_read: int
    bytes_written: int
    output_bytes: int = 0
    """The output's size in memory (`dask.sizeof`): what later jobs learn output sizes from."""
    cpu_share: float | None = None
    """How much of its compute time the task kept a CPU busy (None: not measured; see
    `CpuMeter`): what later jobs learn which tasks mostly wait from."""
    gil_free: float | None = None
    """How much of its compute time the task left the GIL free (None: not measured; see
    `GilProbe`): what later jobs learn which tasks can share an executor's cores from."""
    warnings: tuple[TaskWarning, ...] = ()
    """The warnings the task raised, which the client raises again."""


@dataclass(frozen=True)
class ExecutorEvents:
    """What one invocation did: who it was, when it was asked for, and its tasks."""

    executor: str
    pid: int
    sent_at: float
    started_at: float
    tasks: tuple[TaskEvent, ...]
    via: str = ""
    """How the invocation arrived: "proxy" through the KV proxy, else directly."""
    shard_bytes_read: dict[int, int] = field(default_factory=dict)
    """Bytes of values read from each shard since the invocation's previous record (see
    `IOStats`)."""
    shard_bytes_written: dict[int, int] = field(default_factory=dict)
    """Bytes of values written to each shard since the invocation's previous record."""
