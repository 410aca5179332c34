"""The values an executor holds and the inputs it has received but not loaded yet.

A task's inputs come, in this order of preference: held here (the executor ran the parent),
from the graph (data nodes), inline in the invocation's payload, returned by the fan-in claim
that made the task ready (small ones only), else from Redis (one MGET per shard, then the
chunks of very large values, shards in parallel). Serialized inputs are loaded only when a
task needs them, and each value is kept only while a task here may still need it.
"""

from __future__ import annotations

from collections.abc import Container
from typing import Any

from storage_manager import JobStore, loads


class Inputs:
    def __init__(self, store: JobStore, inline: dict[int, bytes]):
        self.store = store
        self.graph = store.graph
        self.values: dict[int, Any] = {}
        """Outputs held in this executor, kept only while a task here needs them."""
        self.received: dict[int, bytes] = dict(inline)
        """Serialized inputs not yet loaded: inline, returned by fan-in calls, or fetched."""
        self.inline = set(inline)
        """Inputs that came in the payload: not read from Redis."""

    def node_and_inputs(self, task: int) -> tuple[Any, dict]:
        """The task's node and its inputs by key, ready to call."""
        inputs = self.gather(task)
        return self.graph.node(task), inputs

    def gather(self, task: int) -> dict:
        graph, values, received = self.graph, self.values, self.received
        deps = graph.dependencies[task]
        missing = [d for d in deps if d not in values and d not in received
                   and d not in graph.data]
        if missing:
            received.update(self.store.fetch_outputs(missing))
        serialized = {d: received[d] for d in deps if d in received and d not in values}
        if serialized:
            received.update(self.store.resolve_chunks(serialized))
        inputs = {}
        for dep in deps:
            if dep not in values:
                values[dep] = graph.node(dep)() if dep in graph.data else self._load(dep)
            inputs[graph.key(dep)] = values[dep]
        return inputs

    def _load(self, dep: int) -> Any:
        """An input from outside, counted as read by the task that consumes it."""
        data = self.received.pop(dep)
        if dep in self.inline:
            self.inline.discard(dep)
        else:
            self.store.stats.bytes_read += len(data)
        return loads(data, self.store.signer, f"the output of task {self.graph.key(dep)!r}")

    def forget(self, needs: Container[int], needed: Container[int],
               holding: Container[int], deferred: Container[int]) -> None:
        """Drop every value and received input that no task to run here `needs`, no task
        waiting in the batch's region `needed`, that is not `holding` at a fan-in and whose
        marks are not `deferred` (see `deferred_marks`)."""
        for held in (self.values, self.received):
            for task in [t for t in held if t not in needs and t not in needed
                         and t not in holding and t not in deferred]:
                del held[task]
        if self.inline:
            self.inline &= self.received.keys()
