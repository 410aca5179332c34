"""The static schedule of a job, as every executor sees it.

The graph is stored once per job (not once per static schedule): a schedule is simply what is
reachable from its leaf, and every task's entry is shared by all schedules that reach it. Each
task knows its dependencies, its dependents in the order the DFS would "become" them, and
whether the client asked for it. Placement of its keys on shards follows from the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from storage_manager.locality import Locality
from storage_manager.serialization import loads
from storage_manager.shards import job_shard, task_shard


@dataclass
class JobGraph:
    job_id: str
    keys: tuple[Any, ...]
    """The Dask key of each task, by index."""
    node_blobs: tuple[bytes, ...]
    """Each task-spec node (`dask._task_spec.GraphNode`), serialized on its own, so an
    executor unpickles only the tasks it runs."""
    dependencies: tuple[tuple[int, ...], ...]
    dependents: tuple[tuple[int, ...], ...]
    """Dependents of each task; the first ready one is the one an executor becomes."""
    data: frozenset[int]
    """Data nodes: values, not tasks. They never run and are never written to Redis; whoever
    needs one takes it from the graph."""
    results: frozenset[int]
    """Tasks whose outputs the client asked for."""
    num_shards: int
    ttl_ms: int
    locality: Locality = field(default_factory=Locality)
    """The job's locality switches, as the client's configuration had them."""
    _nodes: dict[int, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        data = self.data
        self.waits_for = tuple(sum(1 for d in deps if d not in data)
                               for deps in self.dependencies)
        """How many parents each task waits for: its dependencies that are not data."""

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_nodes", "waits_for")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _nodes={})
        self.__post_init__()

    def __len__(self) -> int:
        return len(self.keys)

    def node(self, task: int) -> Any:
        node = self._nodes.get(task)
        if node is None:
            node = self._nodes[task] = loads(self.node_blobs[task])
        return node

    @property
    def leaves(self) -> list[int]:
        """Tasks that wait for nothing: one executor starts at each."""
        return [t for t, n in enumerate(self.waits_for) if n == 0 and t not in self.data]

    @property
    def job_shard(self) -> int:
        return job_shard(self.job_id, self.num_shards)

    def task_shard(self, task: int) -> int:
        return task_shard(self.job_id, task, self.num_shards)

    def is_fan_in(self, task: int) -> bool:
        """A task waiting for several parents meets them through a done set in Redis."""
        return self.waits_for[task] > 1

    def output_shard(self, task: int) -> int:
        """An output read by one consumer lives with that consumer, so the consumer's fan-in
        call can return it in the same round trip."""
        dependents = self.dependents[task]
        if len(dependents) == 1:
            return self.task_shard(dependents[0])
        return self.task_shard(task)

    def stays_local(self, task: int) -> bool:
        """True when the only reader of this output is its sole dependent, which always runs in
        the same executor: such an output is never written to Redis."""
        dependents = self.dependents[task]
        return (
            task not in self.results
            and len(dependents) == 1
            and self.waits_for[dependents[0]] == 1
        )
