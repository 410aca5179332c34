"""The static schedule of a job, as every executor sees it.

The graph is stored once per job (not once per static schedule): a schedule is simply what is
reachable from its leaf, and every task's entry is shared by all schedules that reach it. Each
task knows its dependencies, its dependents in the order the DFS would "become" them, and
whether the client asked for it. Placement of its keys on shards follows from the same data.

Every executor process that serves a job loads its graph, so the graph travels in a form
that loads in well under a millisecond even for thousands of tasks: the edges as flat int
arrays with offsets, `waits_for` stored rather than recomputed, and the Dask keys and the
task nodes in pickled blocks, each decoded only when an executor first needs one of its
keys or nodes (a leaf that reads no inputs never needs a key). A block of nodes is one
pickle: a function many tasks call is saved once per block, and a pickler is set up once
per block, not per task.
"""

from __future__ import annotations

import itertools
import pickle
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from storage_manager.locality import Locality
from storage_manager.queue_plan import QueuePlan
from storage_manager.recovery import Recovery
from storage_manager.serialization import PROTOCOL, dumps, loads
from storage_manager.shards import job_shard, task_shard

KEY_BLOCK = 256
"""Keys per pickled block: an executor decodes the few blocks holding its inputs' keys."""

NODE_BLOCK = 32
"""Task nodes per pickled block: few enough that an executor needing one task decodes
little else, enough that picklers and shared functions are paid once for many tasks."""


class Adjacency(Sequence):
    """One list of task indices per task, flattened into an int array with offsets: it
    pickles as two byte strings instead of thousands of tuples. Each list is made a tuple
    the first time it is read, and kept (an executor reads its tasks' lists many times)."""

    __slots__ = ("_flat", "_offsets", "_read")

    def __init__(self, offsets: array, flat: array):
        self._offsets = offsets
        self._flat = flat
        self._read: dict[int, tuple[int, ...]] = {}

    @classmethod
    def of(cls, lists: Sequence[Sequence[int]]) -> Adjacency:
        offsets = array("i", itertools.accumulate(map(len, lists), initial=0))
        return cls(offsets, array("i", itertools.chain.from_iterable(lists)))

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, task: int) -> tuple[int, ...]:  # type: ignore[override]
        items = self._read.get(task)
        if items is None:
            if not 0 <= task < len(self._offsets) - 1:
                raise IndexError(f"task {task} is not in the graph")
            offsets = self._offsets
            items = self._read[task] = tuple(self._flat[offsets[task]:offsets[task + 1]])
        return items

    def __iter__(self) -> Iterator[tuple[int, ...]]:
        flat, offsets = self._flat, self._offsets
        return (tuple(flat[offsets[t]:offsets[t + 1]]) for t in range(len(offsets) - 1))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Adjacency) and (self._offsets, self._flat) == (
            other._offsets, other._flat)

    def __reduce__(self):
        return Adjacency, (self._offsets, self._flat)


class JobGraph:
    """A job's tasks by index: their keys, serialized nodes and edges, and what the client
    asked for. Each task's dependencies are distinct; its dependents are in ascending
    order. A graph from `static_scheduler.build_job_graph` numbers its tasks in the order a
    depth-first walk down from its sinks meets them, so each subtree's tasks are neighbours
    and its leaves, in task order, come subtree by subtree."""

    def __init__(self, job_id: str, keys: Sequence[Any], node_blocks: Sequence[bytes],
                 dependencies: Sequence[Sequence[int]], dependents: Sequence[Sequence[int]],
                 data: frozenset[int], results: frozenset[int], num_shards: int, ttl_ms: int,
                 locality: Locality | None = None, config: Mapping[str, Any] | None = None,
                 notices: bool = False, recovery: Recovery | None = None):
        self.job_id = job_id
        self._keys: tuple[Any, ...] | None = tuple(keys)
        self._key_blocks = tuple(pickle.dumps(self._keys[i:i + KEY_BLOCK], protocol=PROTOCOL)
                                 for i in range(0, len(self._keys), KEY_BLOCK))
        self._decoded_blocks: dict[int, tuple[Any, ...]] = {}
        self._size = len(self._keys)
        self._node_blocks = tuple(node_blocks)
        """`NODE_BLOCK` tasks' nodes each, in task order (see `dump_node_blocks`)."""
        self.dependencies = Adjacency.of(dependencies)
        self.dependents = Adjacency.of(dependents)
        """Dependents of each task; the first ready one is the one an executor becomes."""
        self.data = frozenset(data)
        """Data nodes: values, not tasks. They never run and are never written to Redis;
        whoever needs one takes it from the graph."""
        self.results = frozenset(results)
        """Tasks whose outputs the client asked for."""
        self.num_shards = num_shards
        self.ttl_ms = ttl_ms
        self.locality = locality or Locality()
        """The job's locality switches, as the client's configuration had them."""
        self.config_blob = dumps(dict(config or {}))
        """The client's `dask.config` settings the job's tasks run with (dotted keys),
        serialized once: seeds carry it as it is."""
        self._config: dict[str, Any] | None = None
        self.notices = notices
        """Executors ship notices as tasks start and finish: the client's Dask callbacks
        follow the job live (see `executor_lambda.measurement.notices`)."""
        self.recovery = recovery or Recovery()
        """Retries of dead deliveries and of failed tasks, and the deliveries' lease."""
        self.waits_for = array("i", [len(deps) - len(self.data.intersection(deps))
                                     for deps in dependencies])
        """How many parents each task waits for: its dependencies that are not data."""
        self._nodes: dict[int, tuple[Any, ...]] = {}
        """Decoded blocks of nodes, by block."""
        self.queue = QueuePlan()
        """How executors pull the job's queued leaves and run its waiting tasks: set by the
        plan once it knows its starts, before the graph is stored (see `work_queue`)."""

    def __getstate__(self) -> dict:
        caches = ("_nodes", "_keys", "_decoded_blocks", "_config")
        return {k: v for k, v in self.__dict__.items() if k not in caches}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, _nodes={}, _keys=None, _decoded_blocks={}, _config=None)

    @property
    def config(self) -> dict[str, Any]:
        """The `dask.config` settings the job's tasks run with, loaded once."""
        if self._config is None:
            self._config = loads(self.config_blob)
        return self._config

    def __len__(self) -> int:
        return self._size

    @property
    def keys(self) -> tuple[Any, ...]:
        """The Dask key of each task, by index (all of them unpickled on first use)."""
        if self._keys is None:
            self._keys = tuple(key for b in range(len(self._key_blocks))
                               for key in self._key_block(b))
        return self._keys

    def key(self, task: int) -> Any:
        """The Dask key of one task, unpickling only its block."""
        if self._keys is not None:
            return self._keys[task]
        return self._key_block(task // KEY_BLOCK)[task % KEY_BLOCK]

    def _key_block(self, block: int) -> tuple[Any, ...]:
        keys = self._decoded_blocks.get(block)
        if keys is None:
            keys = self._decoded_blocks[block] = pickle.loads(self._key_blocks[block])
        return keys

    def node_blob(self, task: int) -> bytes:
        """The task-spec node (`dask._task_spec.GraphNode`), serialized on its own (what a
        `GraphSeed` carries)."""
        return dumps(self.node(task))

    def node(self, task: int) -> Any:
        """The task's node, unpickling only its block (once)."""
        block, offset = divmod(task, NODE_BLOCK)
        nodes = self._nodes.get(block)
        if nodes is None:
            nodes = self._nodes[block] = loads(self._node_blocks[block])
        return nodes[offset]

    @property
    def leaves(self) -> list[int]:
        """Tasks that wait for nothing: one executor starts at each."""
        return [t for t, n in enumerate(self.waits_for) if n == 0 and t not in self.data]

    @property
    def job_shard(self) -> int:
        return job_shard(self.job_id, self.num_shards)

    def task_shard(self, task: int) -> int:
        return task_shard(self.job_id, task, self.num_shards)

    def chunk_shard(self, task: int, index: int) -> int:
        """Where chunk `index` of a chunked output lives: round-robin from the shard after
        its task's (see `chunking`); its writer and every reader place it by this alone."""
        return (self.task_shard(task) + 1 + index) % self.num_shards

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


def dump_node_blocks(nodes: Sequence[Any]) -> tuple[bytes, ...]:
    """The blocks of `nodes` (in task order) a `JobGraph` stores; `dumps`' errors as they
    come (the caller names the task: see `static_scheduler.partition`)."""
    return tuple(dumps(tuple(nodes[i:i + NODE_BLOCK])) for i in range(0, len(nodes), NODE_BLOCK))
