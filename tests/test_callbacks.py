"""Dask's callbacks, unmodified, fire on the client from a job's events: one `pretask` and one
`posttask` per task, as the tasks start and finish in executors."""

from __future__ import annotations

import io
import threading
import time
import uuid

import dask.array as da
import pytest
import redis
from conftest import idx, job
from dask._task_spec import DataNode
from dask.callbacks import Callback
from dask.diagnostics import Profiler, ProgressBar
from dask.utils_test import inc

import wukong
from executor_lambda.measurement import Notices
from storage_manager import JobStore, dumps
from storage_manager.protocol import RESULT, ExecutorEvents, Invocation
from wukong.callbacks import CLIENT, JobCallbacks

GATE_SECONDS = 60.0
"""How long a gated task waits for its gate before it fails the job."""


class Counting(Callback):
    """Counts every hook, per key, and checks their order."""

    def __init__(self, on_pretask=None, on_posttask=None):
        super().__init__()
        self.starts = self.states = self.finishes = 0
        self.pre: list = []
        self.post: list = []
        self.on_pretask = on_pretask
        self.on_posttask = on_posttask

    def _start(self, dsk):
        self.starts += 1
        self.tasks = {key for key, node in dsk.items() if not isinstance(node, DataNode)}

    def _start_state(self, dsk, state):
        self.states += 1
        self.total = sum(len(state[k]) for k in ("ready", "waiting", "running"))

    def _pretask(self, key, dsk, state):
        assert key in state["running"] and key not in state["finished"]
        self.pre.append(key)
        if self.on_pretask:
            self.on_pretask(key)

    def _posttask(self, key, result, dsk, state, worker_id):
        assert key in self.pre, f"posttask({key!r}) before its pretask"
        assert key in state["finished"]
        self.post.append((key, result, worker_id))
        if self.on_posttask:
            self.on_posttask(key)

    def _finish(self, dsk, state, errored):
        self.finishes += 1
        self.errored = errored


def test_a_callback_sees_one_pretask_and_one_posttask_per_task(cluster):
    x = da.ones((40, 40), chunks=(10, 10))
    y = (x + 1).sum(axis=0)
    counting = Counting()
    with counting:
        got = y.compute(scheduler="wukong")
    assert (got == 80).all()
    tasks = counting.tasks
    assert len(counting.pre) == len(set(counting.pre)) == len(tasks) > 10
    assert set(counting.pre) == tasks
    assert sorted(map(str, (k for k, _, _ in counting.post))) == sorted(map(str, tasks))
    assert counting.starts == counting.states == counting.finishes == 1
    assert counting.errored is False
    assert counting.total == len(tasks)
    executors = {ex.executor for ex in wukong.last_job().executors}
    workers = {worker for _, _, worker in counting.post}
    assert workers - {CLIENT} <= executors and workers - {CLIENT}
    assert CLIENT in workers, "the client's finalizer is a task too"
    results = {key: result for key, result, _ in counting.post}
    for i, key in enumerate(y.__dask_keys__()):  # the finalizer's inputs: fetched
        assert (results[key] == got[10 * i:10 * (i + 1)]).all()


def test_profiler_holds_every_task_with_its_executor(cluster):
    dsk = {f"leaf-{i}": (inc, i) for i in range(8)}
    dsk["total"] = (sum, list(dsk))
    with Profiler() as profiler:
        assert wukong.get(dsk, "total") == sum(range(1, 9))
    assert {r.key for r in profiler.results} == set(dsk)
    for result in profiler.results:
        assert result.start_time <= result.end_time
    executors = {ex.executor for ex in wukong.last_job().executors}
    assert {r.worker_id for r in profiler.results} <= executors


def wait_for_gate(url: str, gate: str, value):
    """Return `value` once the key `gate` exists; fail after `GATE_SECONDS`."""
    client = redis.Redis.from_url(url)
    try:
        if client.blpop([gate], timeout=GATE_SECONDS) is None:
            raise TimeoutError(f"{gate} was never opened")
        return value
    finally:
        client.close()


@pytest.fixture
def gate(cluster):
    """A Redis list a task waits on (`wait_for_gate`) and a callback opens."""
    name = f"test:gate:{uuid.uuid4().hex}"
    client = redis.Redis.from_url(cluster.admin_urls[0])
    yield name, lambda: client.rpush(name, 1)
    client.delete(name)
    client.close()


@pytest.mark.timeout(90)
def test_pretask_fires_while_the_task_runs(cluster, gate):
    """The task waits until its own pretask has fired on the client: without start notices
    shipped while it runs, it would wait for its gate in vain."""
    name, open_gate = gate
    dsk = {"gated": (wait_for_gate, cluster.admin_urls[0], name, 7), "after": (inc, "gated")}
    counting = Counting(on_pretask=lambda key: key == "gated" and open_gate())
    with counting:
        assert wukong.get(dsk, "after") == 8
    assert sorted(counting.pre) == ["after", "gated"]


@pytest.mark.timeout(90)
def test_posttask_fires_while_the_executor_goes_on(cluster, gate):
    """`second` runs in the executor `first` ran in, and waits for `first`'s posttask: it
    fires from the finish notice, not from the events shipped as the executor ends."""
    name, open_gate = gate
    dsk = {"first": (inc, 1),
           "second": (lambda url, gate_name, a: wait_for_gate(url, gate_name, a + 1),
                      cluster.admin_urls[0], name, "first")}
    counting = Counting(on_posttask=lambda key: key == "first" and open_gate())
    with counting:
        assert wukong.get(dsk, "second") == 3
    job = wukong.last_job()
    assert len({t.executor for t in job.tasks}) == 1, "a chain runs in one executor"
    assert [key for key, _, _ in counting.post] == ["first", "second"]


def test_progress_bar_moves_while_the_job_runs(cluster, gate):
    """The bar shows a share between 0% and 100% while a task still waits: the test opens
    the gate only once the bar has drawn it."""
    name, open_gate = gate
    dsk = {f"fast-{i}": (inc, i) for i in range(3)}
    dsk["slow"] = (wait_for_gate, cluster.admin_urls[0], name, 0)
    dsk["total"] = (sum, list(dsk))
    out = io.StringIO()
    result: list = []
    with ProgressBar(out=out, dt=0.01):
        job = threading.Thread(target=lambda: result.append(wukong.get(dsk, "total")))
        job.start()
        deadline = time.monotonic() + GATE_SECONDS
        while not any(f"| {p}% Completed" in out.getvalue() for p in range(1, 100)):
            assert time.monotonic() < deadline, out.getvalue()[-200:]
            time.sleep(0.01)
        open_gate()
        job.join()
    assert result == [sum(range(1, 4))]
    assert "100% Completed" in out.getvalue()


def test_callbacks_of_a_failed_job_finish_errored(cluster):
    counting = Counting()
    with counting, pytest.raises(ZeroDivisionError):
        wukong.get({"a": (inc, 1), "bad": (lambda a: a / 0, "a")}, "bad")
    assert counting.finishes == 1 and counting.errored is True
    assert "bad" not in [key for key, _, _ in counting.post]


def test_without_per_task_hooks_no_notices_are_asked_for(cluster):
    """Callbacks with `start` and `finish` only cost the job nothing: no notices."""
    seen = []
    only_ends = Callback(start=lambda dsk: seen.append("start"),
                         finish=lambda dsk, state, errored: seen.append("finish"))
    with only_ends:
        assert wukong.get({"a": (inc, 1)}, "a") == 2
    assert seen == ["start", "finish"]
    assert not JobCallbacks([only_ends], {}).per_task
    assert JobCallbacks([Counting()], {}).per_task


def test_dask_cache_is_refused_rather_than_fed_nones(cluster):
    from dask.cache import Cache  # needs cachey (the test extra)

    with Cache(1e6), pytest.raises(ValueError, match=r"dask\.cache\.Cache"):
        wukong.get({"a": (inc, 1)}, "a")


def test_notices_ride_a_step_that_goes_to_the_jobs_shard(cluster):
    """Due notices join a publish that reaches the job's shard, as a record of their own:
    no round trip of their own."""
    graph = job("notices-ride")
    store = JobStore(cluster.shards, graph, owner="inv-1")
    store.upload(dumps(graph))
    shipped: list[bytes] = []
    notices = Notices(shipped.append, Invocation(job=graph.job_id, task=0, id="inv-1"), 0.0,
                      cluster.signer)
    notices.close()  # no thread: only `ride` ships
    try:
        notices.started(idx(graph, "e"))
        other = next(t for t in range(len(graph)) if t not in graph.data
                     and graph.output_shard(t) != graph.job_shard)
        elsewhere = store.publish()
        elsewhere.write_output(other, b"value")
        notices.ride(elsewhere)
        assert not elsewhere.reaches_job_shard and elsewhere.round_trips == 1
        publish = store.publish()
        publish.announce(RESULT, idx(graph, "e"))
        assert publish.reaches_job_shard
        notices.ride(publish)
        publish.execute()
        _, records = store.read_events("0-0", None)
        assert [ExecutorEvents.decode(r, cluster.signer).notices[0][:2] for r in records] == [
            (idx(graph, "e"), False)]
        assert shipped == []
    finally:
        store.cleanup()
