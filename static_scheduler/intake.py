"""Graph intake: whatever Dask hands a scheduler becomes a culled task-spec dict.

Accepts an expression or collection (anything with `__dask_graph__`), a HighLevelGraph, or a
plain dict in the legacy tuple form or the new task spec; `convert_legacy_graph` normalizes
them all to `GraphNode`s. Keys may be nested lists, as in Dask's get specification.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dask._task_spec import GraphNode, convert_legacy_graph, cull
from dask.core import flatten

from static_scheduler.disk_shuffle import refuse_disk_shuffle


def requested_keys(keys: Any) -> list:
    """The distinct keys in a possibly nested list of keys, in first-seen order."""
    flat = flatten(keys) if isinstance(keys, list) else [keys]
    return list(dict.fromkeys(flat))


def to_task_graph(dsk: Any, keys: Any) -> dict[Any, GraphNode]:
    """The graph culled to what `keys` need; `KeyError` for a key that is not in it,
    `DiskShuffleUnsupported` for a shuffle through local disk."""
    if not isinstance(dsk, Mapping):
        dsk = dsk.__dask_graph__()
    wanted = requested_keys(keys)
    graph = convert_legacy_graph(dict(dsk))
    missing = [k for k in wanted if k not in graph]
    if missing:
        raise KeyError(missing[0] if len(missing) == 1 else missing)
    graph = cull(graph, wanted)
    for key, node in graph.items():
        for dep in node.dependencies:
            if dep not in graph:
                raise KeyError(f"task {key!r} depends on {dep!r}, which is not in the graph")
    refuse_disk_shuffle(graph)
    return graph
