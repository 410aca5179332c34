"""Failures end a job promptly, on the client, with the original exception type, the task's
key and the remote traceback; and they leave nothing behind in Redis or in the cluster."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import sys
import threading
import time
from collections import Counter
from operator import add

import dask
import numpy as np
import psutil
import pytest
import redis
from conftest import job_keys, wait_until_gone
from dask.utils_test import inc

import wukong
from executor_lambda import ExecutorDied, RemoteTaskError, UnserializableResult
from static_scheduler import CycleError, UnserializableTask
from storage_manager.protocol import Invocation


def notes(exc: BaseException) -> str:
    return "".join(getattr(exc, "__notes__", []))


def divide_by_zero(a, b):
    return (a + b) / 0


def tree_with_a_bad_node(bad: tuple) -> tuple[dict, tuple]:
    """Pairwise add over 64 leaf tasks (127 tasks); the task `bad` divides by zero."""
    dsk: dict = {("tr", 0, i): (inc, i) for i in range(64)}
    level, width = 0, 64
    while width > 1:
        for i in range(width // 2):
            dsk["tr", level + 1, i] = (add, ("tr", level, 2 * i), ("tr", level, 2 * i + 1))
        level, width = level + 1, width // 2
    dsk[bad] = (divide_by_zero, *dsk[bad][1:])
    return dsk, ("tr", level, 0)


def test_exception_deep_in_graph(cluster):
    """A ZeroDivisionError in the middle of the tree reaches the client as itself, naming the
    task and carrying the traceback from the executor."""
    dsk, root = tree_with_a_bad_node(("tr", 3, 2))
    with pytest.raises(ZeroDivisionError):
        dask.get(dsk, root)
    with pytest.raises(ZeroDivisionError) as info:
        wukong.get(dsk, root)
    text = str(info.value) + notes(info.value)
    assert "('tr', 3, 2)" in text
    assert "Traceback (most recent call last)" in notes(info.value)
    assert "divide_by_zero" in notes(info.value)
    assert "return (a + b) / 0" in notes(info.value)


def reraise_as_value_error(x):
    try:
        return {}[x]
    except KeyError as exc:
        raise ValueError(f"no entry {x!r}") from exc


def test_chained_exception_keeps_both_tracebacks_in_the_user_file(cluster):
    """`raise ... from` in a task sent by value: the client prints the cause and the error,
    linked as Python links them, each frame in this file with its source line (cloudpickle
    hides the file of code it sends by value; the client maps it back)."""
    with pytest.raises(ValueError, match="no entry 'k'") as info:
        wukong.get({"x": "k", "bad": (reraise_as_value_error, "x")}, "bad")
    text = notes(info.value)
    assert text.index("KeyError: 'k'") < text.index("direct cause") < text.index("ValueError")
    assert text.count(f'File "{__file__}"') == 2
    assert "return {}[x]" in text
    assert 'raise ValueError(f"no entry {x!r}") from exc' in text
    assert "<dynamic-code>" not in text


def test_exception_in_a_leaf_of_a_fan_in(cluster):
    """A failing leaf whose siblings succeed: the fan-in never runs and the client is told."""
    dsk = {("in", i): (inc, i) for i in range(20)}
    dsk["in", 7] = (divide_by_zero, 1, 2)
    dsk["sum"] = (sum, [("in", i) for i in range(20)])
    with pytest.raises(ZeroDivisionError) as info:
        wukong.get(dsk, "sum")
    assert "('in', 7)" in notes(info.value)


def test_unpicklable_task_refused_before_running(cluster):
    """A lock cannot travel to an executor: refused at submission, naming the task."""
    wukong.get({"warm": (inc, 1)}, "warm")
    before = wukong.last_job().job_id
    dsk = {"x": 1, "locked": (lambda x, lock: x, "x", threading.Lock()), "y": (inc, "locked")}
    with pytest.raises(UnserializableTask, match="'locked'") as info:
        wukong.get(dsk, "y")
    assert isinstance(info.value, TypeError)
    assert wukong.last_job().job_id == before, "a job was started"


def test_cycle_refused(cluster):
    """A cycle would leave executors waiting forever; it is refused, naming its tasks."""
    dsk = {"x": 1, "a": (inc, "x"), "b": (add, "a", "d"), "c": (inc, "b"), "d": (inc, "c"),
           "out": (inc, "d")}
    with pytest.raises(CycleError) as info:
        wukong.get(dsk, "out")
    message = str(info.value)
    assert all(repr(k) in message for k in ("b", "c", "d"))
    assert "'a'" not in message


def test_self_cycle_refused(cluster):
    """The smallest cycle: a task that depends on itself."""
    with pytest.raises(CycleError, match="'me'"):
        wukong.get({"me": (inc, "me")}, "me")


def kill_own_process(x):
    os.kill(os.getpid(), signal.SIGKILL)
    return x


@pytest.mark.timeout(60)
def test_worker_killed_mid_task(cluster):
    """A worker process that dies on every delivery fails the job with ExecutorDied naming the
    task, instead of leaving the client waiting; the cluster then runs new jobs as before."""
    dsk = {"a": (inc, 1), "b": (inc, "a"), "dies": (kill_own_process, "b"),
           "after": (inc, "dies")}
    with pytest.raises(ExecutorDied) as info:
        wukong.get(dsk, "after")
    assert "'dies'" in str(info.value)
    assert "exit code -9" in str(info.value)

    dsk = {("in", i): (inc, i) for i in range(50)}
    dsk["sum"] = (sum, [("in", i) for i in range(50)])
    assert wukong.get(dsk, "sum") == sum(range(1, 51))


def exit_from_task(x):
    sys.exit(3)


@pytest.mark.timeout(60)
def test_task_calling_sys_exit(cluster):
    """SystemExit is not an Exception; it must still end the job, not hang it, and the error
    names the task that exited, not the one its executor started with."""
    dsk = {"a": (inc, 1), "b": (inc, "a"), "bye": (exit_from_task, "b")}
    with pytest.raises((SystemExit, ExecutorDied)) as info:
        wukong.get(dsk, "bye")
    text = str(info.value) + notes(info.value)
    assert "'bye'" in text
    assert "'a'" not in text
    assert wukong.get({"x": (inc, 1)}, "x") == 2


@pytest.mark.timeout(60)
def test_dead_idle_workers_are_replaced(cluster):
    """Workers that die between invocations (say, the OOM killer) are replaced when next
    needed; jobs still run correctly."""
    dsk = {("in", i): (inc, i) for i in range(6)}
    dsk["sum"] = (sum, list(dsk))
    assert wukong.get(dsk, "sum") == 21
    workers = []
    for pid in {ex.pid for ex in wukong.last_job().executors}:
        with contextlib.suppress(psutil.NoSuchProcess):
            workers.append(psutil.Process(pid))
    for worker in workers:
        with contextlib.suppress(psutil.NoSuchProcess):
            worker.kill()
    # Dead, not dying (a worker killed after it took a new invocation has that invocation
    # delivered again, but that is not what this test is about).
    assert wait_until_gone(workers) == []
    for _ in range(3):
        assert wukong.get(dsk, "sum") == 21


@pytest.fixture(scope="module")
def _limited_cluster():
    c = wukong.LocalCluster(invocation_timeout=1, memory_limit=3 * 2**30)
    yield c
    c.close()


@pytest.fixture
def limited(_limited_cluster):
    """A cluster of its own with a 1 s invocation timeout and 3 GiB per worker; not entered
    as a context manager, so tests use it through `limited.get`. Leak-checked like `cluster`."""
    yield _limited_cluster
    assert job_keys(_limited_cluster.admin_urls) == [], "a job left keys in Redis"


def nap(x):
    time.sleep(5)
    return x


@pytest.mark.timeout(60)
def test_invocation_timeout(limited):
    """An invocation running past wukong.runtime.invocation-timeout is killed and reported."""
    dsk = {"a": (inc, 1), "nap": (nap, "a")}
    with pytest.raises(ExecutorDied) as info:
        limited.get(dsk, "nap")
    message = str(info.value)
    assert "'nap'" in message
    assert "timed out after 1 s" in message
    assert "wukong.runtime.invocation-timeout" in message
    assert limited.get({"x": (inc, 1)}, "x") == 2


def nap_once(marker, x):
    """Past the 1 s invocation timeout the first time it runs (the marker file says so)."""
    path = pathlib.Path(marker)
    if not path.exists():
        path.touch()
        time.sleep(5)
    return x + 1


@pytest.mark.timeout(60)
def test_a_timed_out_invocation_is_delivered_again(limited, tmp_path):
    """An invocation killed at the timeout is delivered again, and the retry finishes."""
    dsk = {"m": str(tmp_path / "napped"), "a": (inc, 1), "nap": (nap_once, "m", "a")}
    assert limited.get(dsk, "nap") == 3


def allocate(nbytes):
    return np.ones(nbytes // 8).nbytes


def test_memory_limit(limited):
    """A task allocating past wukong.runtime.memory-limit fails with MemoryError, and the
    worker lives on."""
    with pytest.raises(MemoryError) as info:
        limited.get({"hog": (allocate, 4 * 2**30)}, "hog")
    assert "'hog'" in notes(info.value)
    assert limited.get({"ok": (allocate, 2**20)}, "ok") == 2**20


@pytest.mark.timeout(60)
def test_runtime_gone_fails_the_job():
    """If the runtime itself dies, a waiting client raises instead of hanging, cleans the job
    up, and the runtime's workers are gone too."""
    c = wukong.LocalCluster()
    try:
        assert c.get({"x": (inc, 1)}, "x") == 2
        runtime = psutil.Process(c.runtime.process.pid)
        workers = runtime.children(recursive=True)
        runtime.kill()
        with pytest.raises(RuntimeError, match="runtime has stopped"):
            c.get({"x": (inc, 1)}, "x")
        assert job_keys(c.admin_urls) == []
        assert wait_until_gone(workers) == []
    finally:
        c.close()


class LockedError(Exception):
    """An exception that holds a lock: it cannot be pickled back to the client."""

    def __init__(self, message):
        super().__init__(message)
        self.lock = threading.Lock()


def raise_locked(x):
    raise LockedError(f"bad value {x}")


def test_unpicklable_exception_reaches_client(cluster):
    """The exception itself cannot travel; a stand-in with its type, message and traceback does."""
    dsk = {"x": 41, "y": (inc, "x"), "boom": (raise_locked, "y")}
    with pytest.raises(RemoteTaskError) as info:
        wukong.get(dsk, "boom")
    assert "LockedError: bad value 42" in str(info.value)
    assert "'boom'" in notes(info.value)
    assert "Traceback (most recent call last)" in notes(info.value)
    assert "raise_locked" in notes(info.value)


def with_lock(x):
    return {"x": x, "lock": threading.Lock()}


def pair(a, b):
    return a, b


@pytest.mark.usefixtures("one_executor_per_leaf")
@pytest.mark.parametrize("wanted", ["locked", "joined"])
def test_unpicklable_result_names_the_task_and_type(cluster, wanted):
    """A result that must travel (to the client, or to a fan-in another executor may run)
    and cannot be pickled fails as that task's error, naming the task and the type, with
    no traceback from inside Wukong; the cluster runs the next job as before."""
    dsk = {"a": (inc, 1), "locked": (with_lock, "a"), "b": (inc, 2),
           "joined": (pair, "locked", "b")}
    with pytest.raises(UnserializableResult) as info:
        wukong.get(dsk, wanted)
    message = str(info.value)
    assert "task 'locked' returned a builtins.dict that cannot be pickled" in message
    assert "_thread.lock" in message
    assert isinstance(info.value, TypeError)
    assert "'locked' in Wukong executor" in notes(info.value)
    assert "Traceback" not in notes(info.value) and "task_loop" not in notes(info.value)
    assert wukong.get({"x": (inc, 1)}, "x") == 2


class TwoArgError(Exception):
    """Pickles fine, but unpickling calls `TwoArgError(*args)` with one argument and fails."""

    def __init__(self, message, code):
        super().__init__(message)
        self.code = code


def raise_two_arg():
    raise TwoArgError("needs two", 7)


def test_exception_that_cannot_be_unpickled_reaches_client(cluster):
    """An exception that pickles but does not unpickle must not turn into an unrelated
    TypeError on the client that names neither the task nor the cause."""
    with pytest.raises(RemoteTaskError) as info:
        wukong.get({"two": (raise_two_arg,)}, "two")
    assert "TwoArgError: needs two" in str(info.value)
    assert "'two'" in notes(info.value)
    assert "raise_two_arg" in notes(info.value)


@pytest.mark.timeout(60)
def test_job_timeout(cluster):
    """A job running past wukong.client.job-timeout raises JobTimeout and is cleaned up; the
    executor still running it stops at its next write, leaving nothing behind."""
    url = cluster.admin_urls[0]
    dsk = {"slow": (wait_for_signal, url, "test:release"), "after": (inc, "slow")}
    try:
        with dask.config.set({"wukong.client.job-timeout": 0.5}), \
                pytest.raises(wukong.JobTimeout, match=r"wukong\.client\.job-timeout"):
            wukong.get(dsk, "after")
    finally:
        client = redis.Redis.from_url(url)
        client.rpush("test:release", 1)
        client.close()
    assert wukong.get({"x": 1, "y": (inc, "x")}, "y") == 2


def wait_for_signal(url, key):
    client = redis.Redis.from_url(url)
    try:
        return client.blpop([key], timeout=30)[1]
    finally:
        client.delete(key)
        client.close()


class DuplicatingInvoker:
    """At-least-once delivery: every leaf invocation arrives twice."""

    def __init__(self, invoker, same_id: bool):
        self.invoker = invoker
        self.same_id = same_id

    def invoke(self, invocations):
        again = [inv if self.same_id else Invocation(job=inv.job, task=inv.task)
                 for inv in invocations]
        self.invoker.invoke([*invocations, *again])


@pytest.mark.usefixtures("fan_ins_in_executors")
@pytest.mark.parametrize("same_id", [True, False], ids=["same-id", "other-id"])
def test_leaves_delivered_twice(cluster, monkeypatch, same_id):
    """Serverless platforms deliver invocations at least once: every leaf invocation arrives
    twice, under its own id or another. The second delivery is refused its leaf's claim, so
    every task (leaves and fan-ins) runs exactly once."""
    monkeypatch.setattr(cluster, "invoker", DuplicatingInvoker(cluster.invoker, same_id))
    dsk = {("in", i): (inc, i) for i in range(64)}
    level, width = "in", 64
    while width > 1:
        for i in range(width // 2):
            dsk[f"{level}+", i] = (add, (level, 2 * i), (level, 2 * i + 1))
        level, width = f"{level}+", width // 2
    assert wukong.get(dsk, (level, 0)) == dask.get(dsk, (level, 0)) == sum(range(1, 65))
    ran = Counter(t.key for t in wukong.last_job().tasks)
    assert ran == Counter(list(dsk))
