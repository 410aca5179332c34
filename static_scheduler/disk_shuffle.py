"""Disk shuffles are refused at intake: their store lives on one machine's disk.

Dask's disk shuffle (`Bag.groupby(shuffle="disk")`, a DataFrame shuffle with
`shuffle_method="disk"` or `dataframe.shuffle.method: disk`) makes a partd store in a temporary
directory in one task and has every other task of the shuffle write into and read from it.
Wukong's executors share no disk (on Lambda each has its own `/tmp`), and any process that
drops its copy of the store deletes the directory while others still use it, so such a graph
would lose data. It is recognized by the task that makes the store: a callable from the
`partd` package, or Dask's `maybe_buffered_partd`, anywhere in a task (as its function, as an
argument such as `apply(partd.File, ...)`, or inside a fused subgraph). `import wukong` makes
the task-based shuffle Dask's default, so only an explicit disk shuffle gets here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

import dask.config
from dask._task_spec import DataNode, GraphNode, Task

_PARTD_WRAPPERS = frozenset({("dask.dataframe.shuffle", "maybe_buffered_partd")})
"""Dask's callables that make a partd store, by (module, qualified name) of their class."""
_STORE_MODULES = ("partd", *{module for module, _ in _PARTD_WRAPPERS})
"""The modules one of which is loaded if a graph can hold such a callable."""


class DiskShuffleUnsupported(ValueError):
    """The graph shuffles through a store on local disk; the message names the task and the
    setting that chooses the task-based shuffle instead."""


def refuse_disk_shuffle(graph: Mapping[Any, GraphNode]) -> None:
    """Raise `DiskShuffleUnsupported` if any task of `graph` makes a partd store. Such a
    callable's module is loaded wherever the graph is: while neither is, there is none to
    look for (a graph of arrays, bags or delayed calls costs no walk)."""
    if not any(module in sys.modules for module in _STORE_MODULES):
        return
    for key, node in graph.items():
        if any(_makes_partd_store(f) for f in _callables(node)):
            method = dask.config.get("dataframe.shuffle.method", None)
            raise DiskShuffleUnsupported(
                f"task {key!r} makes a partd store on local disk for a disk shuffle, which "
                "Wukong cannot run: its executors share no disk. Use the task-based shuffle: "
                "Bag.groupby(..., shuffle='tasks'), shuffle_method='tasks' on DataFrame "
                "methods, or dask.config.set({'dataframe.shuffle.method': 'tasks'}) "
                f"(currently {method!r}; 'tasks' is the default once wukong is imported)"
            )


def _callables(node: GraphNode) -> Iterator[Any]:
    """Every callable a node may call: task functions and callable arguments, also in
    nested tasks and fused subgraphs (a dict of nodes as an argument)."""
    stack: list[Any] = [node]
    while stack:
        obj = stack.pop()
        if isinstance(obj, Task):
            yield obj.func
            stack.extend(obj.args)
            stack.extend(obj.kwargs.values())
        elif isinstance(obj, DataNode):
            if callable(obj.value):
                yield obj.value
        elif type(obj) is dict:
            stack.extend(v for v in obj.values() if isinstance(v, GraphNode))
        elif callable(obj) and not isinstance(obj, GraphNode):
            yield obj


def _makes_partd_store(f: Any) -> bool:
    module = getattr(f, "__module__", None) or ""
    if module == "partd" or module.startswith("partd."):
        return True
    cls = f if isinstance(f, type) else type(f)
    return (cls.__module__, cls.__qualname__) in _PARTD_WRAPPERS
