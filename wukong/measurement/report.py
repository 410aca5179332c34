"""What a finished job did, from its executors' per-task events: `wukong.last_job()`."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from storage_manager import IOStats
from storage_manager.protocol import ExecutorEvents, TaskEvent
from wukong.measurement.cost import (
    InvocationSpan,
    LambdaCost,
    Pricing,
    invocation_spans,
    lambda_cost,
)

TaskRecord = NamedTuple("TaskRecord", [*TaskEvent.__annotations__.items(), ("key", Any),
                                        ("executor", str)])
TaskRecord.__doc__ = """A task's event (`TaskEvent`'s fields) with its Dask key and the
executor that ran it."""


@dataclass(frozen=True)
class JobReport:
    job_id: str
    num_tasks: int
    submitted_at: float
    finished_at: float
    executors: tuple[ExecutorEvents, ...]
    task_keys: tuple[Any, ...]
    dependencies: Sequence[Sequence[int]] = ()
    """Each task's dependencies, by task index (the job's graph)."""
    client_io: IOStats | None = None
    """The client's own traffic with Redis for the job (the graph, the results)."""
    platform: str = "local"
    """Where the executors ran (`wukong.platform`): on "aws" the cost is what Lambda bills
    for the invocations; on "local", the embedded runtime, an estimate."""

    @property
    def tasks(self) -> list[TaskRecord]:
        return [
            TaskRecord(*t, self.task_keys[t.task], ex.executor)
            for ex in self.executors for t in ex.tasks
        ]

    @property
    def wall_seconds(self) -> float:
        return self.finished_at - self.submitted_at

    @property
    def executors_invoked(self) -> int:
        return len({ex.executor for ex in self.executors})

    @property
    def tasks_per_executor(self) -> float:
        return self.num_tasks / max(1, self.executors_invoked)

    def _total(self, field: str) -> float:
        return sum(getattr(t, field) for ex in self.executors for t in ex.tasks)

    @property
    def bytes_written(self) -> int:
        return int(self._total("bytes_written"))

    @property
    def bytes_read(self) -> int:
        return int(self._total("bytes_read"))

    @property
    def round_trips(self) -> int:
        return int(self._total("round_trips"))

    @property
    def compute_seconds(self) -> float:
        return self._total("compute_seconds")

    @property
    def storage_seconds(self) -> float:
        return self._total("storage_seconds")

    @property
    def invocations(self) -> list[InvocationSpan]:
        """Each invocation in time, by start."""
        return invocation_spans(self.executors)

    @property
    def cost(self) -> LambdaCost:
        """What the job costs on Lambda at the configured size and prices (`wukong.aws.*`,
        read now, so a user can price one run at several sizes); see `wukong.measurement.cost`."""
        return lambda_cost(self.invocations, Pricing.from_config(), self.platform != "aws")

    def _invoke_delays(self) -> list[float]:
        return [max(0.0, s.started_at - s.sent_at) for s in self.invocations]

    @property
    def invoke_latency(self) -> float:
        """Mean delay between asking for an executor and its handler starting, queueing
        included."""
        delays = self._invoke_delays()
        return sum(delays) / max(1, len(delays))

    @property
    def invoke_seconds(self) -> float:
        """Executor-seconds spent waiting to be started: the invoke share of the time split."""
        return sum(self._invoke_delays())

    @property
    def task_seconds(self) -> float:
        """Executor-seconds from each task's start to its event being recorded."""
        return self._total("end") - self._total("start")

    @property
    def other_seconds(self) -> float:
        """Task time that is neither compute nor storage: (de)serialization and the loop.

        The publish that carries an executor's events is in no event's time (the event is
        sent inside it), so neither here nor in `storage_seconds`; its round trips count."""
        return max(0.0, self.task_seconds - self.compute_seconds - self.storage_seconds)

    def summary(self) -> str:
        return (
            f"job {self.job_id}: {self.num_tasks} tasks in {self.wall_seconds:.3f} s on "
            f"{self.executors_invoked} executors ({self.tasks_per_executor:.1f} tasks each); "
            f"Redis: {self.round_trips} round trips, {self.bytes_written:,} B written, "
            f"{self.bytes_read:,} B read; time in compute {self.compute_seconds:.3f} s, "
            f"storage {self.storage_seconds:.3f} s; mean invocation latency "
            f"{self.invoke_latency * 1000:.1f} ms; {self.cost.summary()}"
        )

    def to_html(self, filename: str | os.PathLike | None = None) -> str:
        """This job's performance report, one self-contained HTML page (see
        `wukong.performance_report`), also written to `filename` if given. Needs bokeh
        (`pip install "wukong[diagnostics]"`)."""
        from wukong.measurement.report_page import report_html

        return report_html([self], filename)


_lock = threading.Lock()
_last: JobReport | None = None


_collectors: dict[object, list[JobReport]] = {}


def record(report: JobReport) -> None:
    global _last
    with _lock:
        _last = report
        for jobs in _collectors.values():
            jobs.append(report)


@contextlib.contextmanager
def collected() -> Iterator[list[JobReport]]:
    """The reports of the jobs this process finishes while the block runs, in order."""
    token, jobs = object(), []
    with _lock:
        _collectors[token] = jobs
    try:
        yield jobs
    finally:
        with _lock:
            del _collectors[token]


def last_job() -> JobReport | None:
    """The report of the most recent job this process finished, successfully or not."""
    return _last
