"""The slice of a job's graph that lets an executor run its first task before reading the graph.

Without a seed, a leaf's executor reads the whole graph (one GET of every task's node)
before its task can start; when many leaves start at once on a few cores, those blocking
reads delay the last of them. A seed is the leaf's own node and its data inputs, a few
hundred bytes carried in the invocation: the executor runs the task from it while a thread
reads the graph, which it needs only once it publishes.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

from storage_manager.job_graph import JobGraph
from storage_manager.serialization import PROTOCOL, loads

SEED_BYTES = 4096
"""The largest seed carried in a payload; a leaf with larger inputs reads the graph first."""


@dataclass(frozen=True)
class GraphSeed:
    task: int
    node: bytes
    """The task's serialized node, as the graph stores it."""
    inputs: tuple[tuple[Any, bytes], ...]
    """(Dask key, serialized data node) of each of the task's dependencies."""
    config_blob: bytes
    """The job's `dask.config` settings, serialized, as the graph has them."""
    notices: bool = False
    """The job's `JobGraph.notices`: the task's start is told before the graph is read."""
    ttl_ms: int = 0
    lease_ms: int = 0
    """The job's TTL and its deliveries' lease, for the claim made before the task runs."""

    @classmethod
    def of(cls, graph: JobGraph, task: int) -> GraphSeed | None:
        """The task's seed, if all it depends on is data, the seed is small, and the task may
        run again (a `retries=0` task checks that it never started first)."""
        dependencies = graph.dependencies[task]
        if any(d not in graph.data for d in dependencies):
            return None
        if graph.recovery.task_retries.get(task) == 0:
            return None
        node = graph.node_blob(task)
        inputs = tuple((graph.key(d), graph.node_blob(d)) for d in dependencies)
        size = len(node) + sum(len(blob) for _, blob in inputs) + len(graph.config_blob)
        if size > SEED_BYTES:
            return None
        return cls(task, node, inputs, graph.config_blob, graph.notices, graph.ttl_ms,
                   graph.recovery.lease_ms)

    def encode(self) -> bytes:
        return pickle.dumps((self.task, self.node, self.inputs, self.config_blob,
                             self.notices, self.ttl_ms, self.lease_ms), protocol=PROTOCOL)

    @classmethod
    def decode(cls, blob: bytes) -> GraphSeed:
        return cls(*pickle.loads(blob))

    @property
    def config(self) -> dict[str, Any]:
        """The job's `dask.config` settings (see `JobGraph.config`)."""
        return loads(self.config_blob)

    def node_and_inputs(self) -> tuple[Any, dict[Any, Any]]:
        """The task's node and its inputs by key, ready to call."""
        return loads(self.node), {key: loads(blob)() for key, blob in self.inputs}
