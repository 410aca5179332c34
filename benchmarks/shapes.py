"""Graph shapes beyond the paper's, built the way a user would build them.

- TR-delay variants: cheap leaves, and adds that sleep only in the top levels or at every
  other position of each level (the paper's TR-delay sleeps in every add);
- map-reduce: a `dask.bag` map over 100,000 items, one partition each, and its tree sum;
- chain: tasks each reading the one before;
- random DAGs from a seed (`random_dag`): mixed costs, fan-in and fan-out;
- shuffle: a dataframe's `set_index` on a random column of 1,000,000 rows;
- overhead: 100,000 tasks that do (almost) nothing, independent, in a chain, in a tree, for
  the per-task overhead table.

Graphs that `dask.delayed` builds in time quadratic in their depth (a chain, a random DAG:
each call merges all of its ancestors' layers), and the overhead graphs (Dask itself takes
seconds to compute 100,000 `Delayed` objects, one collection each), are plain dicts of Dask
task specs behind one collection (a `Delayed`, or a `Bag` for independent tasks), as in
Dask's documentation on custom graphs. The tasks of chains and trees `count` their inputs,
so their result is their number of tasks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from operator import add
from typing import Any

import numpy as np

from benchmarks import random_dag
from benchmarks.workloads import SEED, TR_DELAY_SECONDS, Workload, delayed_add

TOP_LEVELS = 3
"""How many of a tree's top levels sleep in the `top` variant."""


def count(*inputs: int) -> int:
    """1 plus the sum of its inputs: a chain or tree of these computes its own size."""
    return 1 + sum(inputs)


def one() -> list[int]:
    """A bag partition of one item: 1."""
    return [1]


def inc(x: int) -> int:
    return x + 1


def chain(tasks: int) -> tuple:
    """`tasks` tasks, each reading the one before; the last one's result is `tasks`."""
    from dask._task_spec import Task, TaskRef
    from dask.delayed import Delayed

    graph = {"count-0": Task("count-0", count)}
    for i in range(1, tasks):
        graph[f"count-{i}"] = Task(f"count-{i}", count, TaskRef(f"count-{i - 1}"))
    return (Delayed(f"count-{tasks - 1}", graph),)


def tree(tasks: int) -> tuple:
    """`tasks` tasks in a binary tree, numbered as a heap (task i reads 2i+1 and 2i+2): its
    leaves have no inputs; the root's result is `tasks`."""
    from dask._task_spec import Task, TaskRef
    from dask.delayed import Delayed

    graph = {f"count-{i}": Task(f"count-{i}", count, *(
        TaskRef(f"count-{child}") for child in (2 * i + 1, 2 * i + 2) if child < tasks))
        for i in range(tasks)}
    return (Delayed("count-0", graph),)


def independent(tasks: int) -> tuple:
    """`tasks` tasks reading nothing: a bag of `tasks` partitions of [1], gathered by the
    bag's own finalize task into a list of `tasks` ones."""
    import dask.bag as db
    from dask._task_spec import Task

    graph = {("one", i): Task(("one", i), one) for i in range(tasks)}
    return (db.Bag(graph, "one", tasks),)


def map_reduce(items: int) -> tuple:
    """`inc` over `items` items, each its own partition, and their sum (bag's tree)."""
    import dask.bag as db

    return (db.range(items, npartitions=items).map(inc).sum(),)


def random_rows(seed: int, rows: int) -> Any:
    """A partition of `rows` rows: a random float `key` and an integer `value`."""
    import pandas as pd

    rng = np.random.default_rng((SEED, seed))
    return pd.DataFrame({"key": rng.random(rows), "value": rng.integers(0, 1_000, rows)})


def shuffle(rows: int, partitions: int) -> tuple:
    """`set_index("key")` on `rows` random rows read as `partitions` partitions: Dask
    computes the key's quantiles (a job of its own), then shuffles every row. The task
    shuffle, the same graph on every system (distributed would pick its P2P extension)."""
    import dask.dataframe as dd

    frame = dd.from_map(random_rows, range(partitions), rows=rows // partitions)
    return (frame.set_index("key", shuffle_method="tasks"),)


def _same_frames(got: tuple, want: tuple) -> bool:
    return len(got) == len(want) and all(g.equals(w) for g, w in zip(got, want, strict=True))


def waiting_tree(leaves: int, sleeps: Callable[[int, int], bool]) -> tuple:
    """A pairwise sum over `leaves` numbers with `dask.delayed`, whose add at `(level,
    position)` sleeps (`delayed_add`) where `sleeps` says so, or is a plain `add` (level 1
    reads the leaves)."""
    from dask import delayed

    level = [delayed(float(i), name=f"leaf-{i}") for i in range(leaves)]
    depth = 0
    while len(level) > 1:
        depth += 1
        level = [delayed(delayed_add if sleeps(depth, i // 2) else add, pure=True)(
            level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return (level[0],)


def tree_critical_path(leaves: int, sleeps: Callable[[int, int], bool]) -> float:
    """The longest chain of sleeps from a leaf to the root of `waiting_tree`."""
    path = [0.0] * leaves
    depth = 0
    while len(path) > 1:
        depth += 1
        path = [max(path[i], path[i + 1]) + (TR_DELAY_SECONDS if sleeps(depth, i // 2) else 0)
                for i in range(0, len(path), 2)]
    return path[0]


def tr_delay_variant(leaves: int, where: str) -> Workload:
    """`where`: `top` (only the top `TOP_LEVELS` levels sleep) or `mixed` (every other add
    of each level sleeps)."""
    depth = leaves.bit_length() - 1
    rules: dict[str, tuple[str, Callable[[int, int], bool]]] = {
        "top": (f"in the top {TOP_LEVELS} levels", lambda level, _: level > depth - TOP_LEVELS),
        "mixed": ("at every other position", lambda _, position: position % 2 == 0),
    }
    text, sleeps = rules[where]
    return Workload("TR-delay", f"{leaves:,} leaves, {TR_DELAY_SECONDS * 1000:g} ms adds {text}",
                    lambda: waiting_tree(leaves, sleeps),
                    ideal_seconds=tree_critical_path(leaves, sleeps))


def map_reduce_workload(items: int) -> Workload:
    return Workload("map-reduce", f"{items:,} items, bag map and sum",
                    lambda: map_reduce(items))


def chain_workload(tasks: int) -> Workload:
    return Workload("chain", f"{tasks:,} tasks", lambda: chain(tasks), compare=_equal)


def random_dag_workload(tasks: int, seed: int = SEED) -> Workload:
    nodes = random_dag.generate(tasks, seed)
    return Workload("random-DAG", f"{tasks:,} tasks, seed {seed}",
                    lambda: random_dag.collection(nodes),
                    ideal_seconds=random_dag.ideal_seconds(nodes), compare=_equal)


def shuffle_workload(rows: int, partitions: int) -> Workload:
    return Workload("shuffle", f"set_index, {rows:,} rows in {partitions} partitions",
                    lambda: shuffle(rows, partitions), compare=_same_frames,
                    worker_imports=("pandas",))


OVERHEAD_SHAPES: dict[str, tuple[Callable[[int], tuple], Callable[[], Any], tuple]] = {
    "independent": (independent, one, ()),
    "chain": (chain, count, (1,)),
    "tree": (tree, count, (1, 1)),
}
"""Per shape: its builder, its task function and the arguments a typical task gets."""


def overhead_workload(shape: str, tasks: int) -> Workload:
    build, function, args = OVERHEAD_SHAPES[shape]
    return Workload("overhead", f"{tasks:,} tasks, {shape}", lambda: build(tasks),
                    compare=_equal, own_work=lambda: loop_seconds(function, args, tasks))


def loop_seconds(function: Callable[..., Any], args: tuple, times: int,
                 repeat: int = 3) -> float:
    """The least of `repeat` timings of calling `function(*args)` `times` times in a loop."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(times):
            function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def _equal(got: Any, want: Any) -> bool:
    return bool(got == want)
