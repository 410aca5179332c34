"""Which leaves start together: cost-aware batching of cheap tasks into fewer invocations.

The paper starts one executor per leaf. When tasks take microseconds, an invocation costs far
more than the work it carries, so here leaves whose tasks are known to be cheap (learned
durations well under one invocation's cost, see `TaskDurations`) start in batches: one
invocation runs a batch's leaves and its `Region`, the tasks only those leaves make ready,
with no Redis call inside the region. Leaves are taken in depth-first order from the outputs,
so sibling subtrees share a batch and their fan-ins meet inside it. A leaf is batched only if
everything it brings into the region is cheap too, so no expensive task is ever serialized
behind another; a task of unknown duration counts as expensive (a first run keeps the
paper's one executor per leaf). There are just enough batches that each carries at least one
invocation's cost of work, and no more than the platform can run at once.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from executor_lambda.region import Region
from storage_manager import JobGraph

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

    def __post_init__(self) -> None:
        if self.cheap_seconds is not None and self.cheap_seconds < 0:
            raise ValueError("wukong.scheduling.cheap-seconds must be >= 0 or auto, got "
                             f"{self.cheap_seconds}")

    @property
    def invocation_cost(self) -> float:
        return max(self.invoke_seconds, MIN_INVOKE_SECONDS)

    @property
    def cheap_threshold(self) -> float:
        if self.cheap_seconds is not None:
            return self.cheap_seconds
        return self.invocation_cost / 2


def start_batches(graph: JobGraph, expected: Sequence[float | None], batching: Batching,
                  groups: Sequence[tuple[int, ...]] = ()) -> list[tuple[int, ...]]:
    """The job's leaves grouped into invocations; `expected[t]` is task t's learned duration
    (None: unknown). `groups` (see `group_leaves`) start as they are; the other leaves are
    batched if cheap, else come one per invocation, as in the paper."""
    grouped = {leaf for group in groups for leaf in group}
    leaves = [leaf for leaf in leaves_depth_first(graph) if leaf not in grouped]
    if not batching.enabled:
        return [*groups, *((leaf,) for leaf in leaves)]
    threshold = batching.cheap_threshold

    def cheap(task: int) -> bool:
        return expected[task] is not None and expected[task] <= threshold

    region, batchable, work, brought, alone = Region(graph), [], [], [], []
    for leaf in leaves:
        added = region.add(leaf, allowed=cheap) if cheap(leaf) else None
        if added is not None:
            batchable.append(leaf)
            work.append(sum(expected[t] + TASK_SECONDS for t in added))
            brought.append(len(added))
        else:
            alone.append((leaf,))
    return [*groups, *_split(batchable, work, brought, batching), *alone]


def _split(leaves: list[int], work: list[float], brought: list[int],
           batching: Batching) -> list[tuple[int, ...]]:
    """Consecutive runs of `leaves` with about equal work: each at least one invocation's
    cost, as many as can run at once, none over MAX_BATCH_TASKS leaves. Each cut is made,
    near its ideal place, after the leaf that completed the most (`brought`): the end of a
    subtree, so the fan-ins of the batches on both sides meet inside them, not in Redis."""
    if not leaves:
        return []
    total = sum(work)
    count = min(batching.parallelism, int(total // batching.invocation_cost), len(leaves))
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


def leaves_depth_first(graph: JobGraph) -> list[int]:
    """The leaves in the order a depth-first walk down from the outputs meets them, so the
    leaves of sibling subtrees are neighbours."""
    sinks = [t for t, dependents in enumerate(graph.dependents) if not dependents]
    seen, order, stack = set(), [], sinks[::-1]
    while stack:
        task = stack.pop()
        if task in seen:
            continue
        seen.add(task)
        if not graph.waits_for[task] and task not in graph.data:
            order.append(task)
        stack.extend(reversed(graph.dependencies[task]))
    return order
