"""Graph intake: whatever Dask hands a scheduler becomes a culled task-spec dict.

Accepts an expression or collection (anything with `__dask_graph__`), a HighLevelGraph, or a
plain dict in the legacy tuple form or the new task spec; `convert_legacy_graph` normalizes
them all to `GraphNode`s. Keys may be nested lists, as in Dask's get specification.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import dask
from dask._task_spec import GraphNode, convert_legacy_graph, cull
from dask.core import flatten
from dask.delayed import optimize as optimize_delayed
from dask.highlevelgraph import HighLevelGraph

try:  # what `dask.compute` hands a scheduler: a sequence of high-level graph expressions
    from dask._expr import HLGExpr, _HLGExprSequence
except ImportError:  # a Dask that hands over something else: its graph, as Dask makes it
    HLGExpr = _HLGExprSequence = None

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
    priors = chunk_priors(dsk)
    dsk = _optimized(dsk)
    annotations = _annotations(dsk)
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


def _optimized(dsk: Any) -> Any:
    """A sequence of high-level graph expressions (what `dask.compute` hands a scheduler)
    as the HighLevelGraph Dask would optimize it into, but for the graphs of delayed
    collections, which Dask's optimizer only culls: `HighLevelGraph.cull` takes time
    quadratic in their layers (one per delayed call), while `to_task_graph` culls the whole
    graph in linear time anyway. Anything else (a Dask whose expressions differ included)
    is returned as it is, for Dask's own path."""
    if (_HLGExprSequence is None or type(dsk) is not _HLGExprSequence
            or not all(isinstance(expr, HLGExpr) and hasattr(expr, "low_level_optimizer")
                       and hasattr(expr, "hlg") for expr in dsk.operands)):
        return dsk
    graphs = []
    for expr in dsk.operands:
        optimizer, graph = expr.low_level_optimizer, expr.hlg
        if optimizer is not None and not _only_culls(optimizer):
            graph = optimizer(graph, expr.__dask_keys__())
        graphs.append(graph)
    return HighLevelGraph.merge(*graphs)


def _only_culls(optimizer: Callable[..., Any]) -> bool:
    """Whether a collection's low-level optimizer is Dask's for delayed objects, which
    culls and, only if `optimization.fuse.delayed` is set, fuses linear chains."""
    return optimizer is optimize_delayed and not dask.config.get("optimization.fuse.delayed")


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
