"""Dask's collection finalizers at a graph's end run on the client, on their inputs fetched
straight from Redis; everything else (a user's task above all), and every failure's report,
is unchanged."""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from dask.array.core import finalize
from dask.utils_test import inc

import wukong
from static_scheduler import split_client_tasks, to_task_graph


def concat(*parts):
    return np.concatenate(parts)


def assemble(parts):
    """What an array's finalize does, as the user's own function."""
    return finalize(parts)


def big_parts_graph(end, shapes=((250_000,),) * 4) -> dict:
    """Parts of 2 MB (large outputs, so they pass through Redis) met by `end`."""
    dsk: dict = {("part", i): (np.full, shape, float(i)) for i, shape in enumerate(shapes)}
    dsk["end"] = (end, [("part", i) for i in range(len(shapes))])
    return dsk


def test_split_takes_only_requested_end_finalizers_that_meet_task_outputs():
    dsk = {"a": (inc, 1), "b": (inc, 2), "c": (finalize, ["a", "b"]), "d": (inc, "c"),
           "e": (finalize, ["a", "b"]), "f": (finalize, ["a"]), "x": 5,
           "g": (finalize, ["x", "a"]), "h": (concat, "a", "b")}
    tasks = to_task_graph(dsk, ["c", "d", "e", "f", "g", "h"])
    remote, results, mine = split_client_tasks(tasks, ["c", "d", "e", "f", "g", "h"])
    # c has a dependent, f one input, g meets data, h is the user's own function
    assert set(mine) == {"e"}
    assert "e" not in remote and set(remote) == set(tasks) - {"e"}
    assert results[:5] == ["c", "d", "f", "g", "h"] and sorted(results[5:]) == ["a", "b"]


def test_client_runs_the_end_finalizer_and_the_executors_do_not(cluster):
    dsk = big_parts_graph(finalize)
    value = wukong.get(dsk, "end")
    np.testing.assert_array_equal(value, concat(*[np.full(250_000, float(i))
                                                  for i in range(4)]))
    ran = {r.key for r in wukong.last_job().tasks}
    assert ran == {("part", i) for i in range(4)}


def test_a_users_end_task_stays_in_an_executor(cluster):
    wukong.get(big_parts_graph(assemble), "end")
    assert "end" in {r.key for r in wukong.last_job().tasks}


def test_switched_off_the_end_finalizer_runs_in_an_executor(cluster):
    with dask.config.set({"wukong.scheduling.client-finalize": False}):
        wukong.get(big_parts_graph(finalize), "end")
    assert "end" in {r.key for r in wukong.last_job().tasks}


def test_a_failing_client_task_raises_its_own_error_naming_the_task(cluster):
    """Parts that cannot be concatenated (a 1-d and a 2-d one)."""
    with pytest.raises(ValueError) as info:
        wukong.get(big_parts_graph(finalize, ((250_000,), (500, 500))), "end")
    notes = "".join(info.value.__notes__)
    assert "'end'" in notes and "in finalize" in notes


def test_collection_results_match_dask(cluster):
    x = da.random.random((400, 300), chunks=(100, 100))
    y = x @ x.T
    got, total = dask.compute(y, y.sum(), scheduler="wukong")
    want, want_total = dask.compute(y, y.sum(), scheduler="sync")
    np.testing.assert_allclose(got, want)
    assert total == pytest.approx(want_total)
