"""Random DAGs from a seed: mixed task costs, varying fan-in and fan-out.

The same size and seed give the same graph, costs and result on every machine running the
same Python (one `random.Random` drawn from in a fixed order). Nodes
come in topological order; each is a source or reads a few nodes from the frontier (nodes
no one has read yet, so the graph keeps about `tasks / 50` of them open at once and a
chain of consumers behind each), now and then a hub (a node many others read: fan-out).
The last node gathers the frontier left at the end, so the DAG has one output.

Costs: most tasks are tiny; a tenth burn the CPU for a few milliseconds (holding the GIL);
a tenth sleep for up to 20 ms (waiting, as on I/O), or the share `naps` asks for (the chaos
runs sleep more, so faults land while tasks run). The graph is a plain dict of Dask task
specs behind one `Delayed`: building it with `dask.delayed` calls would merge every
ancestor's layers at every call, quadratic in the graph's depth.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

FAN_INS = (1, 2, 3, 4, 8, 32)
FAN_IN_WEIGHTS = (55, 25, 10, 6, 3, 1)
SOURCE_SHARE = 0.02
"""Chance a node is a source although the frontier is wide enough."""
KEEP_SHARE = 0.4
"""Chance a node read stays on the frontier for more readers (fan-out above 1)."""
HUB_SHARE, HUB_READ_SHARE = 0.01, 0.05
"""Chance a node becomes a hub; chance a node also reads a hub."""
SPIN_SECONDS = (0.0005, 0.003)
NAP_SECONDS = (0.001, 0.020)
MODULUS = 1_000_003


@dataclass(frozen=True)
class Node:
    kind: str
    """`tiny`, `spin` (CPU-bound) or `nap` (sleeping)."""
    seconds: float
    """How long it burns the CPU or sleeps; 0 for tiny."""
    inputs: tuple[int, ...]
    """Indexes of the nodes it reads, all earlier than itself."""


def generate(tasks: int, seed: int, naps: float = 0.1) -> list[Node]:
    """`tasks` nodes in topological order; the last reads every node no other reads. A share
    `naps` of the nodes sleep (at most 0.9); the same arguments give the same graph."""
    if tasks < 2:
        raise ValueError(f"a random DAG needs at least 2 tasks, not {tasks}")
    if not 0 <= naps <= 0.9:
        raise ValueError(f"the share of sleeping tasks must be within 0-0.9, not {naps}")
    rng = random.Random(seed)
    width = max(4, tasks // 50)
    nodes: list[Node] = []
    frontier: list[int] = []
    hubs: list[int] = []
    for index in range(tasks - 1):
        source = len(frontier) < width // 2 or rng.random() < SOURCE_SHARE
        inputs = () if source else _read(rng, frontier, hubs)
        nodes.append(Node(*_cost(rng, naps), inputs=inputs))
        frontier.append(index)
        if rng.random() < HUB_SHARE:
            hubs.append(index)
    nodes.append(Node("tiny", 0.0, tuple(sorted(frontier))))
    return nodes


def _read(rng: random.Random, frontier: list[int], hubs: list[int]) -> tuple[int, ...]:
    fan_in = rng.choices(FAN_INS, FAN_IN_WEIGHTS)[0]
    picked = set(rng.sample(frontier, min(fan_in, len(frontier))))
    for index in picked:
        if rng.random() >= KEEP_SHARE:
            frontier.remove(index)
    if hubs and rng.random() < HUB_READ_SHARE:
        picked.add(rng.choice(hubs))
    return tuple(sorted(picked))


def _cost(rng: random.Random, naps: float) -> tuple[str, float]:
    draw = rng.random()
    if draw < 0.1:
        return "spin", rng.uniform(*SPIN_SECONDS)
    if draw < 0.1 + naps:
        return "nap", rng.uniform(*NAP_SECONDS)
    return "tiny", 0.0


def ideal_seconds(nodes: Sequence[Node], cores: int | None = None) -> float:
    """A lower bound on the wall time: the critical path (every task's seconds, CPU-bound or
    sleeping), or the CPU-bound seconds spread over `cores` (default: this machine's), if
    that is longer."""
    path = [0.0] * len(nodes)
    for index, node in enumerate(nodes):
        path[index] = node.seconds + max((path[i] for i in node.inputs), default=0.0)
    cpu = sum(node.seconds for node in nodes if node.kind == "spin")
    return max(max(path), cpu / (cores or os.cpu_count() or 1))


def _mix(index: int, inputs: tuple[int, ...]) -> int:
    return (index + 31 * sum(inputs)) % MODULUS


def tiny(index: int, seconds: float, *inputs: int) -> int:
    return _mix(index, inputs)


def spin(index: int, seconds: float, *inputs: int) -> int:
    """Burn `seconds` of this thread's CPU time, holding the GIL."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass
    return _mix(index, inputs)


def nap(index: int, seconds: float, *inputs: int) -> int:
    time.sleep(seconds)
    return _mix(index, inputs)


FUNCTIONS: dict[str, Callable[..., int]] = {"tiny": tiny, "spin": spin, "nap": nap}


def key(index: int, node: Node) -> str:
    """Named by kind, so a scheduler's per-prefix estimates tell the kinds apart."""
    return f"{node.kind}-{index}"


def collection(nodes: Sequence[Node]) -> tuple:
    """The DAG as one `Delayed` of its last node (an int)."""
    from dask._task_spec import Task, TaskRef
    from dask.delayed import Delayed

    keys = [key(i, node) for i, node in enumerate(nodes)]
    graph = {
        keys[i]: Task(keys[i], FUNCTIONS[node.kind], i, node.seconds,
                      *(TaskRef(keys[j]) for j in node.inputs))
        for i, node in enumerate(nodes)
    }
    return (Delayed(keys[-1], graph),)
