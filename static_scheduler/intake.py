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

from static_scheduler.chunk_priors import ChunkPriors, chunk_priors
from static_scheduler.disk_shuffle import refuse_disk_shuffle


def requested_keys(keys: Any) -> list:
    """The distinct keys in a possibly nested list of keys, in first-seen order."""
    flat = flatten(keys) if isinstance(keys, list) else [keys]
    return list(dict.fromkeys(flat))


class TaskGraph(dict):
    """A culled task-spec graph (key -> `GraphNode`), with the `retries=` annotations of its
    tasks (`dask.annotate(retries=n)`, as distributed reads them) and what its array layers
    say of their chunks (`chunk_priors`)."""

    retries: dict[Any, int]
    priors: ChunkPriors


def to_task_graph(dsk: Any, keys: Any) -> TaskGraph:
    """The graph culled to what `keys` need; `KeyError` for a key that is not in it,
    `DiskShuffleUnsupported` for a shuffle through local disk, `ValueError` naming a task
    whose `retries=` annotation is not a whole number of 0 or more."""
    annotations, priors = _annotations(dsk), chunk_priors(dsk)
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
    culled = TaskGraph(graph)
    culled.retries = _retries(annotations.get("retries", {}), culled)
    culled.priors = priors
    return culled


def _annotations(dsk: Any) -> dict[str, dict[Any, Any]]:
    """The graph's annotations by kind, then by key (those of a HighLevelGraph's layers)."""
    if hasattr(dsk, "__dask_annotations__"):
        return dict(dsk.__dask_annotations__())
    found: dict[str, dict[Any, Any]] = {}
    for layer in getattr(dsk, "layers", {}).values():
        for kind, value in (layer.annotations or {}).items():
            found.setdefault(kind, {}).update(
                {key: value(key) if callable(value) else value for key in layer})
    return found


def _retries(annotated: dict[Any, Any], graph: dict[Any, GraphNode]) -> dict[Any, int]:
    retries = {}
    for key, value in annotated.items():
        if key not in graph or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"task {key!r}: its retries= annotation must be a whole number "
                             f"of 0 or more, not {value!r}")
        retries[key] = value
    return retries
