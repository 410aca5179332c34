"""Conformance with Dask's get specification: `wukong.get` must be a drop-in get function."""

from __future__ import annotations

import operator
from operator import add

import dask
import dask.array as da
import numpy as np
import pytest
from dask._task_spec import Alias, DataNode, Dict, List, Task, TaskRef
from dask.callbacks import Callback
from dask.utils_test import GetFunctionTestMixin, inc

import wukong


class TestGetSpecification(GetFunctionTestMixin):
    """Dask's own get-function tests, run against the session cluster."""

    get = staticmethod(wukong.get)

    @pytest.fixture(autouse=True)
    def _on_cluster(self, cluster):
        """The mixin's tests take no fixtures; requesting `cluster` here makes the session
        cluster the active one and puts every test under the leak check."""
        assert wukong.cluster.current_cluster() is cluster


def test_missing_key_raises_keyerror(cluster):
    """A key that is not in the graph is the caller's error, reported before anything runs."""
    dsk = {"x": 1, "y": (inc, "x")}
    with pytest.raises(KeyError, match="nope"):
        wukong.get(dsk, "nope")
    with pytest.raises(KeyError):
        wukong.get(dsk, ["y", ["nope"]])


def test_missing_dependency_raises_keyerror(cluster):
    """A task naming a key that exists nowhere cannot run; say which one."""
    dsk = {"y": Task("y", inc, TaskRef("ghost"))}
    with pytest.raises(KeyError, match="ghost"):
        wukong.get(dsk, "y")


def test_values_that_are_not_tasks_pass_through(cluster):
    """Plain values (also lists, dicts, strings that are not keys) come back as they are."""
    dsk = {"n": 5, "s": "not a key", "l": [1, 2, 3], "d": {"k": 1}, "t": (inc, "n")}
    keys = ["n", "s", "l", "d", "t"]
    assert wukong.get(dsk, keys) == dask.get(dsk, keys) == (5, "not a key", [1, 2, 3],
                                                             {"k": 1}, 6)


def test_unhashable_values_inside_tasks(cluster):
    """Sets, lists and dicts given as task arguments reach the function intact."""
    dsk = {
        "x": 1,
        "y": (lambda x, s, lst, d: x + len(s) + sum(lst) + d["a"], "x", {1, 2}, [3, 4], {"a": 5}),
    }
    assert wukong.get(dsk, "y") == dask.get(dsk, "y") == 15


def test_nested_keys_keep_their_nesting(cluster):
    """Results come back as tuples in the nesting of the requested keys."""
    dsk = {"a": 1, "b": (inc, "a"), "c": (add, "a", "b"), ("t", 0): (inc, "c")}
    keys = [["a", ["b", [("t", 0)]]], "c", [["c"]]]
    assert wukong.get(dsk, keys) == dask.get(dsk, keys) == ((1, (2, (4,))), 3, ((3,),))


def test_tuple_keys(cluster):
    """Tuple keys (what collections use) are keys, not tasks."""
    dsk = {("x", 0): 1, ("x", 1): 2, "s": (add, ("x", 0), ("x", 1))}
    assert wukong.get(dsk, ["s", ("x", 1)]) == dask.get(dsk, ["s", ("x", 1)]) == (3, 2)


def test_task_returning_none(cluster):
    """None is a result like any other, also as an input to a dependent."""
    dsk = {"n": (lambda: None,), "m": (lambda v: v is None, "n")}
    assert wukong.get(dsk, ["n", "m"]) == (None, True)


def test_task_spec_input(cluster):
    """The new task spec (Task, DataNode, Alias, TaskRef, List and Dict containers) as input."""
    dsk = {
        "a": DataNode("a", 1),
        "b": Task("b", add, TaskRef("a"), 2),
        "c": Alias("c", "b"),
        "d": Task("d", sum, List(TaskRef("a"), TaskRef("b"), 10)),
        "e": Task("e", dict, Dict(x=TaskRef("c"), y=List(TaskRef("d")))),
        "f": Task("f", add, TaskRef("d"), Task(None, inc, TaskRef("a"))),
    }
    keys = ["a", "b", "c", "d", "e", "f"]
    assert wukong.get(dsk, keys) == dask.get(dsk, keys)
    assert wukong.get(dsk, "e") == {"x": 3, "y": [14]}


def test_alias_of_data_node(cluster):
    """An alias whose target is a value resolves without any task behind it."""
    dsk = {"a": DataNode("a", [1, 2]), "b": Alias("b", "a")}
    assert wukong.get(dsk, "b") == dask.get(dsk, "b") == [1, 2]


def test_dask_array_graph_directly(cluster):
    """A collection's graph and keys handed over as Dask would hand them to a scheduler."""
    x = (da.arange(1_000, chunks=100) ** 2).reshape(10, 100).sum(axis=1)
    keys = x.__dask_keys__()
    got = wukong.get(x.__dask_graph__(), keys)
    want = dask.get(x.__dask_graph__(), keys)
    assert len(got) == len(want) == len(keys) == 10
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(np.concatenate(got), x.compute(scheduler="sync"))


def test_dask_array_compute(cluster):
    """`compute(scheduler="wukong")` goes through the registered scheduler name."""
    x = da.arange(1_000, chunks=100)
    y = (x * x).sum() - x.mean()
    assert y.compute(scheduler="wukong") == y.compute(scheduler="sync")


def test_dask_config_scheduler(cluster):
    """`dask.config.set(scheduler="wukong")` routes plain `compute()` to Wukong."""
    x = da.arange(100, chunks=10) + 1
    wukong.get({"warm": 1, "w": (inc, "warm")}, "w")
    before = wukong.last_job()
    with dask.config.set(scheduler="wukong"):
        got = x.sum().compute()
    after = wukong.last_job()
    assert got == 5050
    assert after.job_id != before.job_id, "compute() did not go through Wukong"


def test_cluster_get_method(cluster):
    """`cluster.get` is a get function bound to that cluster."""
    dsk = {"x": 1, "y": (inc, "x")}
    assert cluster.get(dsk, "y") == 2


def test_empty_and_repeated_keys(cluster):
    """No keys at all, empty nests and a key asked for twice, as Dask answers them."""
    dsk = {"x": 1, "y": (inc, "x")}
    for keys in ([], [[]], ["y", "y", ["x", "y"]]):
        assert wukong.get(dsk, keys) == dask.get(dsk, keys)


def test_int_and_float_keys(cluster):
    """Keys need not be strings or tuples."""
    dsk = {1: 5, 2: (inc, 1), 3.5: (add, 1, 2)}
    assert wukong.get(dsk, [3.5, 2]) == dask.get(dsk, [3.5, 2]) == (11, 6)


def test_callbacks_start_and_finish(cluster):
    """Dask callbacks' start and finish hooks fire on the client, also when a task fails."""
    calls = []
    callback = Callback(start=lambda dsk: calls.append(("start", len(dsk))),
                        finish=lambda dsk, state, errored: calls.append(("finish", errored)))
    dsk = {"x": 1, "y": (inc, "x"), "bad": (operator.truediv, "x", 0)}
    with callback:
        assert wukong.get(dsk, "y") == 2
        with pytest.raises(ZeroDivisionError):
            wukong.get(dsk, "bad")
    assert calls == [("start", 2), ("finish", False), ("start", 2), ("finish", True)]



def test_scheduler_keyword_arguments_accepted(cluster):
    """Dask passes options such as num_workers to every scheduler; they must not break it."""
    x = da.arange(100, chunks=25).sum()
    assert x.compute(scheduler="wukong", num_workers=4, optimize_graph=False) == 4950
