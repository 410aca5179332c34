"""Tasks see under Wukong what they see under Dask's own schedulers: writable inputs and
results, their warnings reaching the caller, and the caller's `dask.config`."""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import dask
import dask.array as da
import numpy as np
import pytest
from dask.utils_test import inc

import wukong
from executor_lambda.loop import TaskRun
from executor_lambda.measurement.task_warnings import install
from wukong.config import task_settings

LARGE = 200_000
"""Floats in a large array (1.6 MB): over `WRITABLE_BYTES`, it comes from Redis in place."""


def fill(x, value):
    """Writes into its input, as `da.store`'s `load_store_chunk` and in-place ops do."""
    x[...] = value
    return float(x.sum())


@pytest.mark.usefixtures("one_executor_per_leaf", "fan_ins_in_executors")
def test_inputs_and_results_are_writable(cluster):
    """Inputs read from Redis (large ones received in place, small ones in claims or inline
    payloads), data nodes of the graph and the results the client fetches are all writable."""
    dsk = {"big": (np.zeros, LARGE), "small": (np.zeros, 10),
           "data": np.zeros(LARGE), "tiny": np.zeros(3),
           "big-1": (fill, "big", 1), "big-2": (fill, "big", 2),
           "small-1": (fill, "small", 1), "small-2": (fill, "small", 2),
           "data-1": (fill, "data", 1), "tiny-1": (fill, "tiny", 1)}
    wanted = ["big-1", "big-2", "small-1", "small-2", "data-1", "tiny-1", "big", "small"]
    with dask.config.set({"wukong.locality.clustering": False,
                          "wukong.locality.delayed-io": False}):
        got = dict(zip(wanted, wukong.get(dsk, wanted), strict=True))
    assert wukong.last_job().bytes_read >= 8 * LARGE, "no executor read 'big' from Redis"
    assert got["big-1"] == LARGE and got["big-2"] == 2 * LARGE
    assert got["small-1"] == 10 and got["small-2"] == 20
    assert got["data-1"] == LARGE and got["tiny-1"] == 3
    for key in ("big", "small"):
        assert got[key].flags.writeable, key
        got[key] += 1


def warn_thrice(x):
    for _ in range(3):
        warnings.warn(f"careful with {x}", UserWarning, stacklevel=1)
    return x


WARNING_LINE = warn_thrice.__code__.co_firstlineno + 2


@pytest.mark.parametrize(("action", "shown"), [("default", 1), ("always", 3), ("ignore", 0)])
def test_task_warnings_pass_the_callers_filters(cluster, action, shown):
    """A task's warnings are raised again on the client, through its filters, as Dask's
    synchronous scheduler raises them: "default" shows a warning once per location, and
    each names the task, this file and the line that warned."""
    dsk = {"x": 1, "warns": (warn_thrice, "x")}
    for get in (dask.get, wukong.get):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter(action)
            assert get(dsk, "warns") == 1
        assert len(caught) == shown, get
        for record in caught:
            assert record.category is UserWarning
            assert str(record.message).startswith("careful with 1")
            assert (record.filename, record.lineno) == (__file__, WARNING_LINE)
    if shown:
        assert "'warns'" in str(record.message)


def test_task_warning_as_error_raises_on_the_client(cluster):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UserWarning, match="careful with 1"):
            wukong.get({"x": 1, "warns": (warn_thrice, "x")}, "warns")


def test_runtime_warning_of_a_reduction_reaches_the_caller(cluster):
    """`cumprod` overflowing in the executors' chunks: `pytest.warns` around the compute
    catches it, as it does under Dask's schedulers."""
    x = da.from_array(np.full(8, 1e200), chunks=2).cumprod(axis=0)
    with pytest.warns(RuntimeWarning, match="overflow encountered"):
        got = x.compute(scheduler="wukong")
    assert np.isinf(got[-1])


def warn_together(barrier, text):
    barrier.wait(timeout=10)
    warnings.warn(text, UserWarning, stacklevel=1)
    barrier.wait(timeout=10)
    warnings.warn(text, UserWarning, stacklevel=1)
    return text


def test_warnings_are_kept_per_thread():
    """Tasks running at once on threads of one executor each record only their own
    warnings; a warning outside any task is shown as Python shows it."""
    install()
    barrier = threading.Barrier(3)
    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda text: TaskRun.of(0, lambda: (
            lambda inputs: warn_together(barrier, text), {})), ["one", "two", "three"]))
    for run in runs:
        assert [w.message for w in run.warnings] == [run.value] * 2
        assert {w.category for w in run.warnings} == {UserWarning}
    with warnings.catch_warnings(record=True) as shown:
        install()
        warnings.warn("outside", UserWarning, stacklevel=1)
    assert [str(w.message) for w in shown] == ["outside"]


def test_a_warning_repeated_in_a_loop_travels_once():
    install()
    (caught,) = TaskRun.of(0, lambda: (lambda inputs: warn_thrice(1), {})).warnings
    assert (caught.message, caught.lineno, caught.count) == ("careful with 1", WARNING_LINE, 3)


def read_config(*_):
    return (dask.config.get("user.answer", None), dask.config.get("array.chunk-size"),
            dask.config.get("scheduler", None))


def nested_compute(x):
    return dask.delayed(inc)(x).compute()


@pytest.mark.usefixtures("one_executor_per_leaf", "fan_ins_in_executors")
def test_callers_config_applies_in_tasks(cluster):
    """Settings in force at `compute` apply in the job's tasks: a seeded leaf, a task after
    it and a fan-in; a compute inside a task runs with Dask's synchronous scheduler, not the
    caller's; and the next job's tasks no longer see them."""
    dsk = {"x": 1, "seeded": (read_config, "x"), "after": (read_config, "seeded"),
           "other": (inc, "x"), "fan-in": (read_config, "after", "other"),
           "nested": (nested_compute, "x")}
    keys = ["seeded", "after", "fan-in", "nested"]
    default_chunks = dask.config.get("array.chunk-size")
    settings = {"user.answer": 42, "array.chunk-size": "7MiB", "scheduler": "wukong"}
    with dask.config.set(settings):
        got = wukong.get(dsk, keys)
    assert list(got) == [(42, "7MiB", "sync")] * 3 + [2]
    assert list(wukong.get(dsk, keys)) == [(None, default_chunks, "sync")] * 3 + [2]


def test_a_setting_that_cannot_travel_is_named(cluster):
    with dask.config.set({"user.lock": threading.Lock()}), \
            pytest.raises(ValueError, match=r"dask\.config setting 'user\.lock'"):
        wukong.get({"x": (inc, 1)}, "x")


def test_only_what_the_caller_changed_travels():
    """Dask's defaults are not sent (executors have them), nor the caller's scheduler."""
    assert task_settings() == {}
    with dask.config.set({"scheduler": "wukong", "array.chunk-size": "7MiB",
                          "user": {"nested": {"deep": 1}}}):
        assert task_settings() == {"array.chunk-size": "7MiB", "user.nested.deep": 1}
