"""Which collection finalizers the client runs itself, on their inputs fetched straight from
Redis.

`dask.compute` ends each collection's graph with its `__dask_postcompute__` function (an
array's `finalize` concatenates the chunks; a dataframe's `_concat`), which Dask ran on the
client before it moved them into the graph. In an executor such a task reads its inputs,
writes the assembled result, and then the client reads it again: up to three serial copies of
the result after the last parallel task. The client must read the result anyway, so it reads
the inputs instead (they are announced as results) and assembles them itself; it runs alone
wherever it runs, so no parallelism is lost. Only Dask's own finalizers are taken: they only
assemble, so their inputs are no bigger than their output, while a user's task at the end of
a graph may read far more than it returns, or take long, and belongs in an executor.
Switch: `wukong.scheduling.client-finalize`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from dask._task_spec import DataNode, GraphNode

FINALIZERS = (("dask.array.core", "finalize"), ("dask.bag.core", "finalize"),
              ("dask.dataframe.core", "_concat"))
"""Where Dask's collections keep the functions their `__dask_postcompute__` returns."""


def collection_finalizers() -> set:
    """The finalizers of the collection modules loaded (a graph can only use those)."""
    return {getattr(sys.modules[module], name, None) for module, name in FINALIZERS
            if module in sys.modules} - {None}


def split_client_tasks(tasks: Mapping[Any, GraphNode], wanted: list
                       ) -> tuple[dict[Any, GraphNode], list, dict[Any, GraphNode]]:
    """(the graph the executors run, the keys they must return, the tasks the client runs).

    The client takes a requested collection finalizer with no dependents whose dependencies
    are at least two, all tasks (not data, which would make it a leaf that needs no
    executor's output)."""
    finalizers = collection_finalizers()
    candidates = [key for key in wanted if getattr(tasks[key], "func", None) in finalizers]
    if not candidates:
        return dict(tasks), wanted, {}
    depended_on = {dep for node in tasks.values() for dep in node.dependencies}
    mine = {key: tasks[key] for key in candidates
            if key not in depended_on and _meets_task_outputs(tasks, tasks[key])}
    if not mine:
        return dict(tasks), wanted, {}
    remote = {key: node for key, node in tasks.items() if key not in mine}
    inputs = (dep for node in mine.values() for dep in node.dependencies)
    results = list(dict.fromkeys([*(key for key in wanted if key not in mine), *inputs]))
    return remote, results, mine


def _meets_task_outputs(tasks: Mapping[Any, GraphNode], node: GraphNode) -> bool:
    deps = node.dependencies
    return (not isinstance(node, DataNode) and len(deps) >= 2
            and all(not isinstance(tasks[dep], DataNode) for dep in deps))
