"""Per-task events: what each invocation records of its tasks and ships, once per step that
may be its last, to the job's events stream (`JobKeys.events`), one `ExecutorEvents` per
entry. The client reads them for its progress, its report and the learned estimates. While
a client's Dask callbacks follow a job (`JobGraph.notices`), executors also ship records of
`Notice`s alone, as tasks start and finish.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass, field
from typing import NamedTuple

from storage_manager.code_origins import CodeKey
from storage_manager.serialization import dumps, loads
from storage_manager.signing import Signer

FIELD = "data"
"""The events stream's one field per entry: an encoded `ExecutorEvents`."""


@dataclass(frozen=True)
class TaskWarning:
    """A warning a task raised (see `executor_lambda.measurement.task_warnings`), which the
    client raises again through its own filters."""

    category: type[Warning]
    message: str
    filename: str
    lineno: int
    module: str | None = None
    """The issuing module's `__name__`, which filters match (None where unknown)."""
    code: CodeKey | None = None
    """The key of by-value code that issued it, whose file only the client knows."""
    count: int = field(default=1, compare=False)
    """How many times in a row the task raised it (a warning in a loop travels once)."""


@dataclass(frozen=True)
class Printed:
    """What a task wrote to stdout and stderr (see
    `executor_lambda.measurement.task_output`), which the client shows. Nothing printed is
    `NOTHING_PRINTED`, and stays that one object through a pickle."""

    stdout: str = ""
    stderr: str = ""

    def __bool__(self) -> bool:
        return bool(self.stdout or self.stderr)

    def __reduce__(self) -> str | tuple:
        return (Printed, (self.stdout, self.stderr)) if self else "NOTHING_PRINTED"


NOTHING_PRINTED = Printed()


class TaskEvent(NamedTuple):
    """What one task did in an executor. A named tuple: every executor makes one per task
    run, and the client unpickles one per task."""

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
    printed: Printed = NOTHING_PRINTED
    """What the task printed, which the client shows."""


class Notice(NamedTuple):
    """A task started or finished in an executor: news for a client that follows the job
    live (see `executor_lambda.measurement.notices`); its event follows later."""

    task: int
    finished: bool
    at: float


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
    notices: tuple[Notice, ...] = ()
    """Tasks started or finished since the previous notices (a record of notices alone has
    no `tasks`)."""

    def encode(self, signer: Signer) -> bytes:
        return dumps(self, signer)

    @staticmethod
    def decode(blob: bytes, signer: Signer) -> ExecutorEvents:
        """The record `encode` made. The garbage collector is paused meanwhile: a record
        holds an object per task, and unpickling many of them would otherwise trigger
        full collections over everything the reading process holds (a client: the job's
        graph)."""
        enabled = gc.isenabled()
        gc.disable()
        try:
            return loads(blob, signer, "an executor's events")
        finally:
            if enabled:
                gc.enable()
