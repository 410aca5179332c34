"""Cut a task graph into static schedules and number its tasks.

A static schedule is everything reachable by DFS from one leaf. Data nodes (values, not
tasks) are not leaves: they are served from the graph itself, so no executor is started for
them. Schedules overlap, so the
job stores each task once with what every schedule needs of it: its dependencies, its
dependents in DFS order (the first ready one is the one an executor becomes), and whether
the client asked for it. Cycles are refused here, naming tasks on the cycle, because an
executor would wait on them forever.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import networkx as nx
from dask._task_spec import DataNode, GraphNode

from storage_manager import JobGraph, Locality
from storage_manager.job_graph import dump_node_blocks
from storage_manager.recovery import Recovery
from storage_manager.serialization import dumped_or_culprit


class CycleError(ValueError):
    """The graph is not a DAG."""


class UnserializableTask(TypeError):
    """A task (its function or its data) cannot be pickled; the message names it."""


def _serialize_all(tasks: dict[Any, GraphNode]) -> tuple[bytes, ...]:
    """The graph's blocks of nodes; `UnserializableTask` naming the first task that cannot
    be pickled."""
    return dumped_or_culprit(
        lambda: dump_node_blocks(list(tasks.values())), tasks,
        lambda key, exc: UnserializableTask(f"task {key!r} cannot be serialized for the "
                                            f"executors: {type(exc).__name__}: {exc}"))


def build_job_graph(job_id: str, tasks: dict[Any, GraphNode], results: Iterable[Any],
                    num_shards: int, ttl_ms: int, locality: Locality | None = None,
                    config: Mapping[str, Any] | None = None, notices: bool = False,
                    recovery: Recovery | None = None,
                    task_retries: Mapping[Any, int] | None = None) -> JobGraph:
    """The job's graph; `locality`, `config` (the `dask.config` settings its tasks run
    with), `notices` (ship notices as tasks start and finish) and `recovery` (with the
    tasks' `retries=` annotations, by key), decided on the client, travel with it to the
    executors."""
    keys, dependencies, dependents = _numbered_depth_first(tasks)
    index = {key: i for i, key in enumerate(keys)}
    if task_retries:
        recovery = dataclasses.replace(recovery or Recovery(), task_retries={
            index[k]: n for k, n in task_retries.items() if k in index})
    return JobGraph(
        job_id=job_id,
        keys=keys,
        node_blocks=_serialize_all({key: tasks[key] for key in keys}),
        dependencies=dependencies,
        dependents=dependents,
        data=frozenset(i for i, key in enumerate(keys) if isinstance(tasks[key], DataNode)),
        results=frozenset(index[k] for k in results),
        num_shards=num_shards,
        ttl_ms=ttl_ms,
        locality=locality or Locality(),
        config=config,
        notices=notices,
        recovery=recovery,
    )


def _numbered_depth_first(tasks: dict[Any, GraphNode]
                          ) -> tuple[tuple[Any, ...], list[list[int]], list[list[int]]]:
    """(keys, dependencies, dependents), the tasks numbered in the order a depth-first walk
    down from the graph's sinks meets them, so each subtree's tasks are neighbours: an
    executor running a subtree decodes the few blocks of keys and nodes that hold it.
    `CycleError` for a graph that is not a DAG."""
    keys = tuple(tasks)
    index = {key: i for i, key in enumerate(keys)}
    dependencies = [[index[d] for d in tasks[k].dependencies] for k in keys]
    dependents = _dependents(dependencies)
    _refuse_cycles(keys, dependencies, dependents)
    order, seen = [], set()
    stack = [t for t in range(len(keys) - 1, -1, -1) if not dependents[t]]
    while stack:
        task = stack.pop()
        if task not in seen:
            seen.add(task)
            order.append(task)
            stack.extend(reversed(dependencies[task]))
    renumbered = {old: new for new, old in enumerate(order)}
    numbered = [[renumbered[d] for d in dependencies[t]] for t in order]
    return tuple(keys[t] for t in order), numbered, _dependents(numbered)


def _dependents(dependencies: list[list[int]]) -> list[list[int]]:
    """Each task's dependents, in ascending order."""
    dependents: list[list[int]] = [[] for _ in dependencies]
    for task, deps in enumerate(dependencies):
        for dep in deps:
            dependents[dep].append(task)
    return dependents


def _refuse_cycles(keys, dependencies, dependents) -> None:
    """Kahn's count from the leaves; whatever it cannot reach lies on or behind a cycle."""
    remaining = [len(d) for d in dependencies]
    frontier = [t for t, n in enumerate(remaining) if not n]
    reached = 0
    while frontier:
        task = frontier.pop()
        reached += 1
        for dependent in dependents[task]:
            remaining[dependent] -= 1
            if not remaining[dependent]:
                frontier.append(dependent)
    if reached == len(keys):
        return
    stuck = nx.DiGraph(
        (keys[d], keys[t]) for t, n in enumerate(remaining) if n for d in dependencies[t]
    )
    cycle = [edge[0] for edge in nx.find_cycle(stuck)]
    raise CycleError(f"the graph has a cycle through tasks {cycle!r}")


def static_schedule(graph: JobGraph, leaf: int) -> list[int]:
    """The tasks reachable from `leaf`, in the DFS order an executor starting there follows."""
    order, seen, stack = [], {leaf}, [leaf]
    while stack:
        task = stack.pop()
        order.append(task)
        for dependent in reversed(graph.dependents[task]):
            if dependent not in seen:
                seen.add(dependent)
                stack.append(dependent)
    return order
