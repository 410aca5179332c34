"""Unit tests of the static scheduler: intake, the job graph, schedules, serialization."""

from __future__ import annotations

import random
from operator import add

import dask.array as da
import pytest
from conftest import DSK, TTL_MS, idx, job
from dask._task_spec import Alias, DataNode, Task, TaskRef
from dask.highlevelgraph import HighLevelGraph
from dask.utils_test import inc

from static_scheduler import (
    CycleError,
    UnserializableTask,
    build_job_graph,
    requested_keys,
    static_schedule,
    to_task_graph,
)
from storage_manager import dumps, loads

# -- intake -------------------------------------------------------------------------------------

def test_requested_keys_flattens_and_dedupes():
    """Nested key lists name each key once, in first-seen order; a single key is a list of one."""
    assert requested_keys([["a", ["b"]], "a", [("t", 1)]]) == ["a", "b", ("t", 1)]
    assert requested_keys(("t", 1)) == [("t", 1)]
    assert requested_keys("x") == ["x"]


def test_intake_culls_to_what_keys_need():
    """Tasks no requested key depends on are not part of the job."""
    tasks = to_task_graph(DSK, ["e", ["f"]])
    assert set(tasks) == {"a", "b", "c", "d", "e", "f"}
    assert isinstance(tasks["d"], DataNode)
    assert isinstance(tasks["c"], Task)
    assert set(to_task_graph(DSK, "b")) == {"b", "d"}


def test_intake_missing_keys():
    """Missing requested keys raise KeyError naming them, one or several."""
    with pytest.raises(KeyError, match="nope"):
        to_task_graph(DSK, "nope")
    with pytest.raises(KeyError) as info:
        to_task_graph(DSK, ["nope", ["e", "nada"]])
    assert info.value.args[0] == ["nope", "nada"]


def test_intake_of_collections_and_high_level_graphs():
    """Anything with `__dask_graph__` and HighLevelGraphs are accepted as they are."""
    x = da.ones(10, chunks=5).sum()
    tasks = to_task_graph(x, x.__dask_keys__())
    assert x.__dask_keys__()[0] in tasks
    hlg = HighLevelGraph({"l": {"x": 1, "y": (inc, "x")}}, {"l": set()})
    assert set(to_task_graph(hlg, "y")) == {"x", "y"}


def test_intake_of_task_spec_with_alias():
    """An Alias is a node with one dependency, like any other."""
    dsk = {"v": DataNode("v", 2), "t": Task("t", inc, TaskRef("v")), "al": Alias("al", "t")}
    tasks = to_task_graph(dsk, "al")
    assert set(tasks) == {"v", "t", "al"}
    graph = build_job_graph("j", tasks, ["al"], 1, TTL_MS)
    assert graph.dependencies[idx(graph, "al")] == (idx(graph, "t"),)


# -- the job graph --------------------------------------------------------------------------------

def test_build_job_graph_structure():
    """Dependencies, dependents, data nodes, results and how many parents each task waits for."""
    g = job()
    i = {k: idx(g, k) for k in "abcdef"}
    assert len(g) == 6
    assert set(g.dependencies[i["c"]]) == {i["a"], i["b"]}
    assert set(g.dependents[i["a"]]) == {i["c"], i["f"]}
    assert set(g.dependents[i["d"]]) == {i["a"], i["b"]}
    assert g.data == {i["d"]}
    assert g.results == {i["e"], i["f"]}
    assert [g.waits_for[i[k]] for k in "abcdef"] == [0, 0, 2, 0, 1, 1]
    assert sorted(g.leaves) == sorted([i["a"], i["b"]]), "a data node is never a leaf"
    assert [g.is_fan_in(i[k]) for k in "abcdef"] == [False, False, True, False, False, False]


def test_outputs_that_stay_local_and_where_outputs_live():
    """An output whose only reader is a single-parent dependent never goes to Redis; one read
    by a single fan-in lives on that fan-in's shard."""
    g = job()
    i = {k: idx(g, k) for k in "abcdef"}
    assert g.stays_local(i["c"]), "e is c's only dependent and waits only for c"
    assert not g.stays_local(i["a"]), "a has two dependents"
    assert not g.stays_local(i["b"]), "b's dependent is a fan-in"
    assert not g.stays_local(i["e"]), "e is a result"
    assert g.output_shard(i["b"]) == g.task_shard(i["c"])
    assert g.output_shard(i["a"]) == g.task_shard(i["a"])
    assert {g.task_shard(t) for t in range(len(g))} == {0, 1}


def test_job_graph_pickles_without_its_caches():
    """The graph travels without loaded nodes or decoded keys, and keeps everything else."""
    g = job()
    assert g.node(idx(g, "a"))({"d": 1}) == 2
    back = loads(dumps(g))
    assert back._nodes == {} and back._keys is None
    assert [back.key(t) for t in range(len(g))] == list(g.keys)
    assert back._keys is None, "one key decodes only its block"
    assert back.keys == g.keys
    assert back.waits_for == g.waits_for
    assert back.leaves == g.leaves
    assert (back.data, back.results) == (g.data, g.results)
    assert back.node(idx(g, "c"))({"a": 2, "b": 3}) == 5


def test_tasks_are_numbered_depth_first_so_each_subtree_is_consecutive():
    """However the graph's dict is ordered, the tasks under each task (it and everything it
    depends on) take consecutive numbers: an executor running a subtree decodes few blocks."""
    leaves = [f"leaf-{i}" for i in range(16)]
    dsk = {leaf: (inc, i) for i, leaf in enumerate(leaves)}
    level = leaves
    while len(level) > 1:
        level = [_pair(dsk, level[i], level[i + 1]) for i in range(0, len(level), 2)]
    items = list(dsk.items())
    random.Random(7).shuffle(items)
    shuffled = dict(items)
    g = build_job_graph("dfs", to_task_graph(shuffled, level), level, 1, TTL_MS)
    for task in range(len(g)):
        under, stack = set(), [task]
        while stack:
            t = stack.pop()
            under.add(t)
            stack.extend(g.dependencies[t])
        assert under == set(range(min(under), max(under) + 1)), g.keys[task]
    order = g.leaves
    assert sorted(g.keys[t] for t in order) == sorted(leaves)
    pairs = zip(order[::2], order[1::2], strict=True)
    assert all(g.dependents[a] == g.dependents[b] for a, b in pairs), "siblings are neighbours"


def _pair(dsk: dict, a: str, b: str) -> str:
    key = f"({a}+{b})"
    dsk[key] = (add, a, b)
    return key


def test_job_graph_round_trip_of_a_large_graph():
    """Every task's edges, blob, data flag and result flag survive the compact encoding, and
    a task outside the graph is an IndexError naming it."""
    dsk = {("v", i): i for i in range(50)}
    dsk.update({("s", i): (add, ("v", i % 50), ("v", (i * 7) % 50)) for i in range(3000)})
    dsk["total"] = (sum, [("s", i) for i in range(0, 3000, 3)])
    keys = ["total", ("s", 1), ("s", 2)]
    tasks = to_task_graph(dsk, keys)
    g = build_job_graph("big", tasks, keys, 4, TTL_MS)
    back = loads(dumps(g))
    index = {k: i for i, k in enumerate(g.keys)}
    assert set(index) == set(tasks)
    assert len(back) == len(tasks) == len(back.dependencies) == len(back.dependents)
    for key, node in tasks.items():
        t = index[key]
        assert back.dependencies[t] == tuple(index[d] for d in node.dependencies)
        assert back.node_blob(t) == g.node_blob(t)
    assert list(back.dependents) == list(g.dependents)
    assert back.key(len(tasks) - 1) == g.keys[-1] and back.keys == g.keys
    assert set(back.dependents[index[("v", 0)]]) == {
        index[("s", i)] for i in range(3000)
        if ("s", i) in index and 0 in (i % 50, (i * 7) % 50)}
    assert back.data == {index[("v", i)] for i in range(50)}
    assert back.results == {index[k] for k in keys}
    assert back.waits_for[index[("s", 3)]] == 0, "both its parents are data"
    assert back.waits_for[index["total"]] == 1000
    assert back.node(index[("s", 3)])({("v", 3): 3, ("v", 21): 21}) == 24
    with pytest.raises(IndexError, match=str(len(tasks))):
        back.dependencies[len(tasks)]


def test_static_schedule_is_dfs_through_dependents():
    """From a leaf, depth first: the first dependent and everything after it, then the next."""
    g = job()
    a, b, c, e, f = (idx(g, k) for k in "abcef")
    order = static_schedule(g, a)
    first, second = g.dependents[a]
    after = {c: [c, e], f: [f]}
    assert order == [a, *after[first], *after[second]]
    assert static_schedule(g, b) == [b, c, e]


def test_static_schedule_visits_shared_descendants_once():
    """A diamond below the leaf: the join is reached twice but scheduled once."""
    dsk = {"r": (inc, 1), "x": (inc, "r"), "y": (inc, "r"), "j": (add, "x", "y")}
    g = job(keys=("j",), dsk=dsk)
    order = static_schedule(g, idx(g, "r"))
    assert sorted(order) == sorted(range(4))
    assert order[0] == idx(g, "r")


def test_cycles_are_refused_naming_their_tasks():
    """Tasks on the cycle are named; tasks merely behind it are not."""
    dsk = {"s": (inc, 1), "p": (add, "s", "r"), "q": (inc, "p"), "r": (inc, "q"),
           "behind": (inc, "r")}
    tasks = to_task_graph(dsk, ["behind"])
    with pytest.raises(CycleError) as info:
        build_job_graph("j", tasks, ["behind"], 1, TTL_MS)
    message = str(info.value)
    assert all(repr(k) in message for k in ("p", "q", "r"))
    assert "'behind'" not in message and "'s'" not in message


def test_unserializable_task_named():
    """The task whose data cannot be pickled is named in the error."""
    import threading

    tasks = to_task_graph({"ok": (inc, 1), "bad": (id, threading.Lock())}, ["ok", "bad"])
    with pytest.raises(UnserializableTask, match="'bad'"):
        build_job_graph("j", tasks, ["ok", "bad"], 1, TTL_MS)


def triple(x):
    return 3 * x


def test_tasks_pickle_plainly_unless_cloudpickle_must_save_them_by_value():
    """Importable functions go by reference through the C pickler; this module's functions
    (registered to go by value, as in a notebook's `__main__`) and lambdas by value."""
    dsk = {"std": (add, 1, 2), "mine": (triple, 2), "anon": (lambda x: x - 1, 5)}
    graph = build_job_graph("j", to_task_graph(dsk, list(dsk)), list(dsk), 1, TTL_MS)
    blobs = {key: graph.node_blob(t) for t, key in enumerate(graph.keys)}
    assert b"cloudpickle" not in blobs["std"]
    assert b"cloudpickle" in blobs["mine"] and b"cloudpickle" in blobs["anon"]
    assert [graph.node(graph.keys.index(k))() for k in dsk] == [3, 6, 4]


def _intake_of(collection) -> dict:
    """The task graph `to_task_graph` makes of what `dask.compute` hands a scheduler."""
    import dask

    made = {}

    def get(dsk, keys, **kwargs):
        made.update(to_task_graph(dsk, keys))
        return [None] * len(keys)

    dask.compute(collection, scheduler=get)
    return made


def test_delayed_graphs_are_culled_once_in_linear_time(monkeypatch):
    """Dask's optimizer for delayed objects only culls, with `HighLevelGraph.cull`, whose
    time grows with the square of the layers (one per delayed call): the intake leaves it
    out and culls the whole graph itself. With `optimization.fuse.delayed` it runs."""
    import dask
    from dask import delayed

    culls = []
    cull = HighLevelGraph.cull
    monkeypatch.setattr(HighLevelGraph, "cull", lambda self, keys: culls.append(1)
                        or cull(self, keys))
    x = delayed(inc)(1, dask_key_name="x")
    y = delayed(add)(x, 2, dask_key_name="y")
    assert set(_intake_of(y)) == {"x", "y"} and not culls
    with dask.config.set({"optimization.fuse.delayed": True}):
        fused = _intake_of(y)
        assert "x" not in fused and "y" in fused and culls  # x fused into y's task
