"""What Dask's array collections tell of their chunks before anything ran.

Every layer of a `dask.array` graph carries `collection_annotations`: the array's shape,
chunk size, dtype and chunk type (what distributed's dashboard shows). Per task prefix (the
layer's name, `key_split`), they give a chunk's size in bytes and whether the chunks are
numpy arrays. For a job whose every task makes a chunk of a numpy array, the plan takes what
was not learned yet from them (see `plan._batches`): the chunk size as the tasks' output
size, and, while their GIL-free shares are unknown, Dask's own bet for arrays, whose default
scheduler is threads because numpy's kernels leave the GIL free. What a job measures always
wins.

The layers are read from the high-level graphs Dask hands the scheduler, before its
low-level optimization merges them (fusion keeps the name of a fused chain's last layer,
so the tasks' prefixes are still layer names); a graph without layers gives no priors.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import dask._expr as dask_expr
from dask.highlevelgraph import HighLevelGraph
from dask.utils import key_split

logger = logging.getLogger(__name__)

_HLG_EXPR = getattr(dask_expr, "HLGExpr", ())
"""Dask's expression holding a high-level graph (`hlg`); () where a release has none."""
_SEQUENCES = tuple(getattr(dask_expr, name) for name in ("_ExprSequence", "_HLGExprSequence")
                   if hasattr(dask_expr, name))
"""Dask's expressions holding those of several collections computed together."""

NUMPY_CHUNKS = "numpy.ndarray"
"""The chunk type of a numpy-backed array, as `collection_annotations` names it."""


@dataclass(frozen=True)
class ChunkPriors:
    """Per task prefix, what the array layers of its name say."""

    chunk_bytes: Mapping[str, float] = field(default_factory=dict)
    """Bytes of a full chunk (the layer's chunk size times its item size)."""
    numpy: frozenset[str] = frozenset()
    """Prefixes whose chunks are numpy arrays."""

    def all_numpy(self, prefixes: Iterable[str]) -> bool:
        """Every one of `prefixes` (at least one) makes chunks of a numpy array."""
        prefixes = set(prefixes)
        return bool(prefixes) and prefixes <= self.numpy


def chunk_priors(dsk: Any) -> ChunkPriors:
    """The priors of the array layers in what Dask handed the scheduler (a high-level
    graph, or an expression holding some); none for anything else, nor where reading them
    fails (they only guide the plan: a job never fails for them)."""
    try:
        return _read_priors(dsk)
    except Exception:
        logger.debug("no chunk priors: reading the array layers failed", exc_info=True)
        return ChunkPriors()


def _read_priors(dsk: Any) -> ChunkPriors:
    sizes: dict[str, float] = {}
    numpy: set[str] = set()
    for layer_name, about in _array_layers(dsk):
        prefix = key_split(layer_name)
        size = _chunk_bytes(about)
        if size is not None:
            sizes[prefix] = size
        if str(about.get("chunk_type")) == NUMPY_CHUNKS:
            numpy.add(prefix)
    return ChunkPriors(sizes, frozenset(numpy))


def _array_layers(dsk: Any) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for graph in _graphs(dsk):
        for name, layer in graph.layers.items():
            annotations = getattr(layer, "collection_annotations", None)
            if annotations:
                yield name, annotations


def _graphs(dsk: Any) -> Iterator[HighLevelGraph]:
    """The high-level graphs in `dsk`: itself, that of Dask's `HLGExpr`, or those of the
    expressions a sequence of them holds (what `dask.compute` hands a scheduler). Nothing
    else is looked into: an expression's other attributes may compute its metadata."""
    if isinstance(dsk, HighLevelGraph):
        yield dsk
    elif isinstance(dsk, _HLG_EXPR):
        yield dsk.hlg
    elif isinstance(dsk, _SEQUENCES):
        for operand in dsk.operands:
            yield from _graphs(operand)


def _chunk_bytes(about: Mapping[str, Any]) -> float | None:
    import numpy as np  # an array layer's graph has it loaded already

    try:
        itemsize = np.dtype(about["dtype"]).itemsize
        return float(math.prod(int(n) for n in about["chunksize"]) * itemsize)
    except (KeyError, TypeError, ValueError):
        return None
