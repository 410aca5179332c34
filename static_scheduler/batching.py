"""Which leaves start together: cost-aware batching of cheap tasks, and of tasks that mostly
wait, into fewer invocations, from learned estimates. The plan uses it only where the job
needs no work queue (see `storage_manager.work_queue`: where more leaves than the platform
runs at once would start alone, executors pull them in batches sized as they run instead).

The paper starts one executor per leaf. When tasks take microseconds, an invocation costs far
more than the work it carries, so here leaves whose tasks are known to be cheap (learned
durations well under one invocation's cost, `Estimates.durations`) start in batches: one
invocation runs a batch's leaves and its `Region`, the tasks only those leaves make ready,
with no Redis call inside the region. Leaves are taken in task order, which is depth-first
from the outputs (see `JobGraph`), so sibling subtrees share a batch and their fan-ins meet
inside it. A leaf is batched only if everything it brings into the region is cheap too, so
no expensive task is ever serialized behind another; a task of unknown duration counts as
expensive (a first run keeps the paper's one executor per leaf). There are just enough
batches that each carries at least one invocation's cost of work, and no more than the
platform can run at once.

Tasks that mostly wait (a remote call, I/O, a sleep: a learned CPU share, see `CpuMeter`, of
at most `WAITING_CPU_SHARE`) need an executor's thread, not its CPU. Leaves of such tasks start
in batches that run up to `Batching.threads` tasks at once, each in a thread, with their
region as above: a hundred waiting leaves take two invocations instead of a hundred, which
spares the invocations' cost and, on a machine of few cores, their processes' competition
for the CPU. Dask's threaded and distributed schedulers run such tasks the same way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from storage_manager import JobGraph
from storage_manager.queue_plan import WAITING_CPU_SHARE
from storage_manager.region import Region

MIN_INVOKE_SECONDS = 0.002
"""What one invocation costs at least, the latency model off: the local runtime's dispatch,
a worker picking it up, and the executor's start and last publish."""

TASK_SECONDS = 0.00005
"""What the executor's loop costs per task besides the task itself (load the task, gather,
record), counted in a batch's work."""

MAX_BATCH_TASKS = 4096
"""Most leaves in one invocation, so its payload stays a few tens of KB."""

@dataclass(frozen=True)
class Batching:
    """The job's `wukong.scheduling.*` settings, with what the platform offers."""

    enabled: bool = True
    cheap_seconds: float | None = None
    """Tasks expected to take at most this long are cheap; None: half an invocation."""
    invoke_seconds: float = 0.0
    """What one invocation costs (the latency model's; at least MIN_INVOKE_SECONDS)."""
    parallelism: int = 1
    """How many executors can run at once (cores locally, concurrency on a platform)."""
    threads: int = 1
    """Most waiting tasks one executor runs at once (1: each leaf of them starts alone)."""
    queue: bool = True
    """Leaves started by no batch or group go to the job's work queue, pulled by at most
    `parallelism` executors (see `work_queue`); False: each starts alone, the paper's way."""
    executor_cores: int = 1
    """Cores one executor has (a local worker: the machine's; a Lambda: its vCPUs): how
    many threads can share them running tasks that leave the GIL free."""

    def __post_init__(self) -> None:
        if self.cheap_seconds is not None and self.cheap_seconds < 0:
            raise ValueError("wukong.scheduling.cheap-seconds must be >= 0 or auto, got "
                             f"{self.cheap_seconds}")
        if self.threads < 1:
            raise ValueError(f"wukong.scheduling.threads must be >= 1, got {self.threads}")

    @property
    def invocation_cost(self) -> float:
        return max(self.invoke_seconds, MIN_INVOKE_SECONDS)

    @property
    def cheap_threshold(self) -> float:
        if self.cheap_seconds is not None:
            return self.cheap_seconds
        return self.invocation_cost / 2


class Batch(NamedTuple):
    """Tasks one invocation starts with, and how many of its tasks it runs at once."""

    tasks: tuple[int, ...]
    threads: int = 1


def start_batches(graph: JobGraph, expected: Sequence[float | None], batching: Batching,
                  groups: Sequence[tuple[int, ...]] = (),
                  cpu: Sequence[float | None] | None = None,
                  group_threads: int = 1) -> list[Batch]:
    """The job's leaves grouped into invocations; `expected[t]` is task t's learned duration
    and `cpu[t]` its learned CPU share (None: unknown). `groups` (see `group_leaves`) start
    as they are, each on `group_threads` threads (see `threads_per_group`); the other leaves
    are batched if cheap or waiting, else come one per invocation, as in the paper."""
    grouped = {leaf for group in groups for leaf in group}
    leaves = [leaf for leaf in graph.leaves if leaf not in grouped]
    starts = [Batch(tuple(group), min(group_threads, len(group))) for group in groups]
    if not batching.enabled:
        return [*starts, *(Batch((leaf,)) for leaf in leaves)]
    threshold = batching.cheap_threshold

    def cheap(task: int) -> bool:
        return expected[task] is not None and expected[task] <= threshold

    def waits(task: int) -> bool:
        share = cpu[task] if cpu is not None else None
        return expected[task] is not None and share is not None and share <= WAITING_CPU_SHARE

    def cheap_or_waits(task: int) -> bool:
        return cheap(task) or waits(task)

    cheap_leaves, waiting_leaves = _Batchable(graph, cheap), _Batchable(graph, cheap_or_waits)
    alone = []
    for leaf in leaves:
        if not (cheap(leaf) and cheap_leaves.add(leaf, expected)) and not (
                batching.threads > 1 and cheap_or_waits(leaf)
                and waiting_leaves.add(leaf, expected)):
            alone.append(Batch((leaf,)))
    count = min(batching.parallelism, int(sum(cheap_leaves.work) // batching.invocation_cost),
                len(cheap_leaves.leaves))
    starts += [Batch(batch) for batch in cheap_leaves.split(count)]
    count = math.ceil(len(waiting_leaves.leaves) / batching.threads)
    starts += [Batch(batch, min(batching.threads, len(batch)))
               for batch in waiting_leaves.split(count)]
    return [*starts, *alone]


class _Batchable:
    """Leaves of one kind, in depth-first order, with the work each brings into their
    region (its own task and those it completes, all of the kind) and how many tasks."""

    def __init__(self, graph: JobGraph, allowed: Callable[[int], bool]):
        self.region = Region(graph)
        self.allowed = allowed
        self.leaves: list[int] = []
        self.work: list[float] = []
        self.brought: list[int] = []

    def add(self, leaf: int, expected: Sequence[float | None]) -> bool:
        added = self.region.add(leaf, allowed=self.allowed)
        if added is None:
            return False
        self.leaves.append(leaf)
        self.work.append(sum(expected[t] + TASK_SECONDS for t in added))  # type: ignore[operator]
        self.brought.append(len(added))
        return True

    def split(self, count: int) -> list[tuple[int, ...]]:
        """Consecutive runs of the leaves with about equal work, about `count` of them (at
        least one, none over MAX_BATCH_TASKS leaves). Each cut is made, near its ideal
        place, after the leaf that completed the most (`brought`): the end of a subtree, so
        the fan-ins of the batches on both sides meet inside them, not in Redis."""
        leaves, work, brought = self.leaves, self.work, self.brought
        if not leaves:
            return []
        total = sum(work)
        count = max(1, count, math.ceil(len(leaves) / MAX_BATCH_TASKS))
        slack = total / count / 4
        cuts, done, window = [], 0.0, []
        for i, cost in enumerate(work):
            done += cost
            target = total * (len(cuts) + 1) / count
            if len(cuts) < count - 1 and done >= target - slack:
                window.append(i)
                if done >= target + slack or i == len(work) - 1:
                    cuts.append(max(window, key=lambda j: brought[j]) + 1)
                    window = []
        bounds = [0, *cuts, len(leaves)]
        batches = [leaves[a:b] for a, b in itertools.pairwise(bounds) if b > a]
        return [tuple(batch[i:i + MAX_BATCH_TASKS]) for batch in batches
                for i in range(0, len(batch), MAX_BATCH_TASKS)]
