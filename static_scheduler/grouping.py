"""Which leaves start together because their large outputs meet.

One executor per leaf (the paper) writes every large output that a task of another leaf
needs: in `x @ x.T` each block product needs the blocks of two leaves, so both are written
to Redis and read back. When the leaves whose large outputs meet start in one invocation,
the tasks where they meet lie in that batch's `Region` and run there, and those outputs
never leave the executor.

Leaves are grouped by heavy-edge matching, the way multilevel graph partitioners coarsen a
graph. A group owns its region (the tasks all of whose parents it owns); two groups'
affinity is the bytes of the large outputs of each (`Estimates.output_bytes`) that
meet at a task neither owns. Each round merges the pairs of highest affinity, each group at
most once, so the regions grow level by level: in `x @ x.T` the leaves of one contraction
index first (their products become local), then pairs of those (their partial products meet
at the same sums, where delayed I/O keeps one side's unwritten). Rounds stop when no large
outputs of different groups meet, or when no more groups than the platform runs at once
(its parallelism) are left; no group takes more than its share of the leaves, so the job
keeps its parallelism. An output of unknown size never counts: a first run keeps the
paper's schedule. Switch: `wukong.locality.grouping`.

When the job's tasks leave the GIL free (learned, see `GilProbe`: BLAS, LAPACK, numpy's
loops), a group's executor runs them on all its cores, in threads, as Dask's threaded
scheduler would: then fewer, larger groups keep the job's parallelism (`threads_per_group`),
and more of the large outputs never leave their executor: with as many threads as the
parallelism, one group runs the whole job, and nothing crosses Redis but the results.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence

from networkx.utils import UnionFind

from storage_manager import JobGraph

MEASURED_TIME = 0.8
"""The share of the job's learned task time whose GIL-free share must be known: tasks too
short to measure (see `GilProbe`) may make up the rest."""

MOST_GROUPS_PER_MEETING = 32
"""A task where more groups' large outputs meet counts only the heaviest this many, so one
wide fan-in cannot make the rounds quadratic in the number of leaves."""


def group_leaves(graph: JobGraph, sizes: Sequence[float | None],
                 parallelism: int) -> list[tuple[int, ...]]:
    """Groups of two or more leaves to start in one invocation each, in depth-first order;
    `sizes[t]` is task t's learned output size in bytes (None: unknown). Leaves in no group
    are left to `start_batches`."""
    settings = graph.locality
    if not settings.grouping:
        return []
    large = [size is not None and size >= settings.large_object_bytes for size in sizes]
    if not any(large):
        return []
    leaves = graph.leaves
    groups = UnionFind(leaves)
    order = topological_order(graph)
    affinity = _affinity(graph, order, groups, sizes, large)
    involved = {group for pair in affinity for group in pair}
    count = len(involved)
    most_leaves = math.ceil(count / max(1, parallelism))
    while affinity and count > parallelism:
        merged: set[int] = set()
        for (a, b), _ in sorted(affinity.items(), key=lambda item: (-item[1], item[0])):
            if a in merged or b in merged or groups.weights[a] + groups.weights[b] > most_leaves:
                continue
            groups.union(a, b)
            merged.update((a, b))
            count -= 1
            if count <= parallelism:
                break
        if not merged:
            break
        affinity = _affinity(graph, order, groups, sizes, large)
    members: dict[int, list[int]] = {}
    for leaf in leaves:
        members.setdefault(groups[leaf], []).append(leaf)
    return [tuple(group) for group in members.values() if len(group) > 1]


def threads_per_group(graph: JobGraph, expected: Sequence[float | None],
                      gil_free: Sequence[float | None], cores: int, unknown: int = 1) -> int:
    """Threads each group's executor runs its tasks on: as many of its `cores` as the GIL can
    serve. The GIL is one core's worth of Python: if the job's tasks hold it a share `h` of
    their learned time (`expected[t]` seconds, `gil_free[t]` the share they leave it free),
    `1 / h` threads keep their cores busy between them. `unknown` (at most `cores`) while
    any task's duration is unknown, or most of the time was not measured."""
    if cores <= 1 or not graph.locality.grouping:
        return 1
    unknown = max(1, min(cores, unknown))
    total = measured = free = 0.0
    for task in range(len(graph)):
        if task in graph.data:
            continue
        seconds = expected[task]
        if seconds is None:
            return unknown
        total += seconds
        if gil_free[task] is not None:
            measured += seconds
            free += seconds * gil_free[task]  # type: ignore[operator]
    if not measured or measured < MEASURED_TIME * total:
        return unknown
    held = 1 - free / measured
    return max(1, min(cores, int(1 / held) if held > 0 else cores))


def _affinity(graph: JobGraph, order: Sequence[int], groups: UnionFind,
              sizes: Sequence[float | None], large: Sequence[bool]) -> Counter[tuple[int, int]]:
    """Bytes of large outputs of each pair of groups that meet at a task neither owns."""
    home: dict[int, int | None] = {}
    """The group whose region holds each task; None if no one group's does."""
    affinity: Counter[tuple[int, int]] = Counter()
    for task in order:
        parents = [p for p in graph.dependencies[task] if p not in graph.data]
        if not parents:
            home[task] = groups[task]
            continue
        owners = {home[p] for p in parents}
        if len(owners) == 1:
            home[task] = owners.pop()
            if home[task] is not None:
                continue
        home[task] = None
        meeting: Counter[int] = Counter()
        for p in parents:
            owner = home[p]
            if large[p] and owner is not None:
                meeting[owner] += sizes[p]
        heaviest = sorted(group for group, _ in meeting.most_common(MOST_GROUPS_PER_MEETING))
        for a, b in itertools.combinations(heaviest, 2):
            affinity[a, b] += meeting[a] + meeting[b]
    return affinity


def topological_order(graph: JobGraph) -> list[int]:
    """The tasks (not data nodes), each after its parents."""
    waiting = list(graph.waits_for)
    order = [t for t in range(len(graph)) if not waiting[t] and t not in graph.data]
    for task in order:  # grows while it is walked
        for dependent in graph.dependents[task]:
            waiting[dependent] -= 1
            if not waiting[dependent]:
                order.append(dependent)
    return order
