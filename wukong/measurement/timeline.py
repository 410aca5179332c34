"""A finished job in time, from its executors' events: what the performance report plots.

Everything here is computed on the client from the records the executors shipped during the
job (`ExecutorEvents`); nothing is read from Redis. Times are seconds since the job was
submitted; durations are wall-clock seconds summed over executors ("executor-seconds").
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import networkx as nx

from storage_manager.protocol import ExecutorEvents, TaskEvent
from wukong.measurement.cost import InvocationSpan


class FinishedJob(Protocol):
    """What the analysis reads of a job: `wukong.JobReport` has it all."""

    @property
    def executors(self) -> Sequence[ExecutorEvents]: ...
    @property
    def dependencies(self) -> Sequence[Sequence[int]]: ...
    @property
    def invocations(self) -> list[InvocationSpan]: ...
    @property
    def invoke_seconds(self) -> float: ...
    @property
    def compute_seconds(self) -> float: ...
    @property
    def storage_seconds(self) -> float: ...
    @property
    def other_seconds(self) -> float: ...


@dataclass(frozen=True)
class TimeSplit:
    """Where the executors' time went, in executor-seconds."""

    invoke: float
    """Waiting to be started: from the caller's request to the handler's start."""
    compute: float
    """In the tasks' functions."""
    storage: float
    """In calls to Redis made for the tasks (inputs, outputs, fan-in marks)."""
    other: float
    """In the tasks but neither: (de)serialization, the executor's own work, and an output
    held at a fan-in until it is written (its task's event ends with the write)."""
    idle: float
    """In an invocation but outside all of its tasks (each from its start to its event):
    reading the job's graph, waiting with nothing to run, the loop between tasks."""

    def parts(self) -> list[tuple[str, float]]:
        return [("invoke", self.invoke), ("compute", self.compute), ("storage", self.storage),
                ("other", self.other), ("idle", self.idle)]


def time_split(job: FinishedJob) -> TimeSplit:
    return TimeSplit(job.invoke_seconds, job.compute_seconds, job.storage_seconds,
                     job.other_seconds, idle_seconds(job.executors, job.invocations))


def idle_seconds(executors: Iterable[ExecutorEvents], spans: Iterable[InvocationSpan]) -> float:
    """Time invocations spent outside all of their tasks (tasks that ran at once, in
    threads, count once)."""
    busy: dict[str, list[TaskEvent]] = defaultdict(list)
    for ex in executors:
        busy[ex.executor].extend(ex.tasks)
    length: dict[str, float] = defaultdict(float)
    for span in spans:
        length[span.executor] += span.ended_at - span.started_at
    return sum(max(0.0, total - _covered(busy[executor])) for executor, total in length.items())


def _covered(tasks: Iterable[TaskEvent]) -> float:
    """The length of the union of the tasks' intervals."""
    covered, reach = 0.0, float("-inf")
    for task in sorted(tasks, key=lambda t: t.start):
        if task.end > reach:
            covered += task.end - max(task.start, reach)
            reach = task.end
    return covered


def executor_lanes(spans: Sequence[InvocationSpan]) -> list[int]:
    """A lane for each span (in their order, by start): the lowest lane free when it
    starts. As many lanes as executors ever ran at once; one lane holds invocations one
    after another, as a warm Lambda instance serves them."""
    lanes: list[int] = []
    busy: list[tuple[float, int]] = []
    free: list[int] = []
    for span in spans:
        while busy and busy[0][0] <= span.started_at:
            heapq.heappush(free, heapq.heappop(busy)[1])
        lane = heapq.heappop(free) if free else len(busy)
        heapq.heappush(busy, (span.ended_at, lane))
        lanes.append(lane)
    return lanes


@dataclass(frozen=True)
class Concurrency:
    """Executors over time, as steps: at `times[i]` the counts become `running[i]` and
    `waiting[i]`."""

    times: list[float]
    running: list[int]
    """Invocations whose handler has started and not yet ended."""
    waiting: list[int]
    """Invocations asked for and not yet started (queued, or starting)."""


def concurrency(spans: Iterable[InvocationSpan], origin: float) -> Concurrency:
    """The steps of `spans`, times counted from `origin`."""
    changes: dict[float, list[int]] = defaultdict(lambda: [0, 0])  # running, waiting
    for span in spans:
        changes[max(0.0, span.sent_at - origin)][1] += 1
        changes[max(0.0, span.started_at - origin)][1] -= 1
        changes[max(0.0, span.started_at - origin)][0] += 1
        changes[max(0.0, span.ended_at - origin)][0] -= 1
    steps = Concurrency([0.0], [0], [0])
    for at in sorted(changes):
        started, asked = changes[at]
        if at > steps.times[-1]:
            steps.times.append(at)
            steps.running.append(steps.running[-1])
            steps.waiting.append(steps.waiting[-1])
        steps.running[-1] += started
        steps.waiting[-1] += asked
    return steps


def task_work(task: TaskEvent) -> float:
    """A task's own measured time: its function's and its Redis calls'. Not from its start to
    its event: that also counts the time its output was held at a fan-in, while other tasks
    ran (`TimeSplit.other`)."""
    return task.compute_seconds + task.storage_seconds


def critical_path(job: FinishedJob) -> list[int]:
    """The longest chain of the job's DAG by measured time: the tasks (by index, in order)
    whose work (`task_work`) adds up the most. A task that ran more than once counts with
    its longest run; tasks that did not run are not in it."""
    work: dict[int, float] = {}
    for ex in job.executors:
        for t in ex.tasks:
            work[t.task] = max(work.get(t.task, 0.0), task_work(t))
    if not work:
        return []
    graph = nx.DiGraph()
    source = -1
    graph.add_edges_from((source, task, {"seconds": seconds}) for task, seconds in work.items())
    graph.add_edges_from((dep, task, {"seconds": work[task]}) for task in work
                         for dep in job.dependencies[task] if dep in work)
    return [task for task in nx.dag_longest_path(graph, weight="seconds") if task != source]


def task_label(key: Any) -> str:
    """A Dask key as the report shows it."""
    return str(key) if not isinstance(key, tuple) else "(" + ", ".join(map(repr, key)) + ")"
