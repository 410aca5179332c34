"""Retries of deliveries that die: the local runtime delivers a dead executor's invocation
again (`attempt + 1`, until one task was running at more than `wukong.retries` of its
deaths), the new delivery takes over what the dead one
claimed, and only once the retries are spent does the job fail, naming the task, the
attempts and each cause."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import threading
import time
from operator import add

import dask
import pytest
from conftest import wait_for
from dask import delayed
from dask.utils_test import inc

import wukong
from benchmarks import chaos_faults
from executor_lambda import ExecutorDied
from executor_lambda.loop.resumption import CHECKPOINT_SECONDS
from executor_lambda.platforms.local.redelivery import Redeliveries
from storage_manager.protocol import Invocation
from storage_manager.protocol.delivery import owner
from storage_manager.signing import Signer


def die_once(marker: str, x):
    """SIGKILL its own process the first time it runs (the marker file says it did)."""
    path = pathlib.Path(marker)
    if not path.exists():
        path.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return x + 1


def always_die(x):
    os.kill(os.getpid(), signal.SIGKILL)
    return x


@pytest.mark.timeout(120)
def test_a_killed_executor_is_retried_and_the_job_succeeds(cluster, tmp_path):
    """A worker SIGKILLed mid-task, in a chain after a leaf: its invocation is delivered
    again, runs the chain from the leaf, and the job's result is right."""
    dsk = {"m": str(tmp_path / "chain"), "a": (inc, 1), "b": (inc, "a"),
           "dies": (die_once, "m", "b"), "after": (inc, "dies")}
    assert wukong.get(dsk, "after") == 5
    assert (tmp_path / "chain").exists()


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("fan_ins_in_executors")
def test_a_killed_fan_in_is_taken_over_by_the_retry(cluster, tmp_path):
    """The executor that claimed a fan-in dies running it: the retry takes the claim over
    (it ended the lease of the delivery it replaces) and the job's result is right."""
    dsk = {("p", i): (inc, i) for i in range(8)}
    dsk["m"] = str(tmp_path / "fan-in")
    dsk["j"] = (sum, [("p", i) for i in range(8)])
    dsk["dies"] = (die_once, "m", "j")
    dsk["total"] = (add, "dies", ("p", 0))
    assert wukong.get(dsk, "total") == sum(range(1, 9)) + 1 + 1


def slow_count(counter: str, x):
    """Counts its runs in a file; runs long enough that its output is checkpointed."""
    with open(counter, "a") as f:
        f.write("run\n")
    time.sleep(2 * CHECKPOINT_SECONDS)
    return x + 1


@pytest.mark.timeout(120)
def test_a_retry_reads_what_took_long_instead_of_running_it_again(cluster, tmp_path):
    """A chain whose slow middle task finished before its executor died further down: the
    retry reads that task's checkpointed output (it ran once), runs the rest again, and
    the job's result is right."""
    runs = tmp_path / "runs"
    dsk = {"m": str(tmp_path / "died"), "c": str(runs), "a": (inc, 1),
           "slow": (slow_count, "c", "a"), "dies": (die_once, "m", "slow"),
           "after": (inc, "dies")}
    assert wukong.get(dsk, "after") == 5
    assert (tmp_path / "died").exists()
    assert runs.read_text().splitlines() == ["run"]


@pytest.mark.timeout(120)
def test_retries_spent_fail_the_job_naming_task_and_attempts(cluster):
    """A task that always kills its process: the job fails once `wukong.retries` (2) more
    deliveries died too, with an error naming the task, the attempts and each cause."""
    dsk = {"a": (inc, 1), "dies": (always_die, "a")}
    with pytest.raises(ExecutorDied) as info:
        wukong.get(dsk, "dies")
    message = str(info.value)
    assert "'dies'" in message
    assert "delivered 3 times" in message
    assert "attempt 3: died with exit code -9" in message
    assert wukong.get({"x": (inc, 1)}, "x") == 2


@pytest.mark.timeout(120)
def test_no_retries_fails_at_once(cluster):
    """With `wukong.retries: 0` a dead delivery fails its job at once."""
    with dask.config.set({"wukong.retries": 0}), pytest.raises(ExecutorDied) as info:
        wukong.get({"a": (inc, 1), "dies": (always_die, "a")}, "dies")
    assert "exit code -9" in str(info.value)
    assert "delivered" not in str(info.value)


def test_bad_retry_settings_are_named(cluster):
    for name, value in (("retries", -1), ("retries", "two"), ("lease", 0)):
        with dask.config.set({f"wukong.{name}": value}), \
                pytest.raises(ValueError, match=rf"wukong\.{name}"):
            wukong.get({"x": (inc, 1)}, "x")


def fail_until(counter: str, failures: int, x):
    """Raise the first `failures` times it runs (counted in a file), then return x + 1."""
    path = pathlib.Path(counter)
    runs = len(path.read_text()) if path.exists() else 0
    path.write_text("x" * (runs + 1))
    if runs < failures:
        raise RuntimeError(f"run {runs + 1} fails")
    return x + 1


@pytest.mark.timeout(120)
def test_retries_annotation_reruns_a_task_that_raises(cluster, tmp_path):
    """Dask's `retries=n`: a task that raises runs again up to n times in its executor; past
    n, its error is the job's."""
    flaky = delayed(fail_until)
    with dask.annotate(retries=2):
        ok = flaky(str(tmp_path / "twice"), 2, 1)
    assert ok.compute(scheduler="wukong") == 2
    assert (tmp_path / "twice").read_text() == "xxx"
    with dask.annotate(retries=1):
        bad = flaky(str(tmp_path / "thrice"), 3, 1)
    with pytest.raises(RuntimeError, match="run 2 fails"):
        bad.compute(scheduler="wukong")
    unannotated = flaky(str(tmp_path / "once"), 1, 1)
    with pytest.raises(RuntimeError, match="run 1 fails"):
        unannotated.compute(scheduler="wukong")


@pytest.mark.timeout(120)
def test_retries_zero_is_never_run_again_by_a_retried_executor(cluster, tmp_path):
    """A `retries=0` task whose executor died while it ran is not run again by the retried
    delivery: the job fails naming it. Without the annotation, the retry runs it."""
    first = delayed(inc)(1)
    with dask.annotate(retries=0):
        fragile = delayed(die_once)(str(tmp_path / "zero"), first)
    with pytest.raises(ExecutorDied, match="retries=0") as info:
        delayed(inc)(fragile).compute(scheduler="wukong")
    assert "die_once" in str(info.value)
    sturdy = delayed(die_once)(str(tmp_path / "default"), first)
    assert delayed(inc)(sturdy).compute(scheduler="wukong") == 4


def test_bad_retries_annotation_is_named(cluster):
    with dask.annotate(retries=-1):
        bad = delayed(inc)(1)
    with pytest.raises(ValueError, match="retries= annotation"):
        bad.compute(scheduler="wukong")


def test_deaths_are_blamed_on_the_task_that_ran_not_on_the_invocation():
    """An executor that pulls from the work queue runs many tasks: deaths while it runs
    different tasks keep it delivered; the third death while one task ran ends it. Each
    retry replaces the delivery that died, named by its request id, and those it replaced
    (it may have died before it ended their leases)."""
    signer = Signer.generate()
    redeliveries = Redeliveries(signer)
    payload = Invocation(job="j", task=0, retries=2).encode(signer, limit=None)
    for attempt, task in enumerate((5, 6, 7, 5)):
        payload = redeliveries.again(payload, "died", task, f"request{attempt}")
        assert payload is not None
        retry = Invocation.from_event(json.loads(payload), signer)
        assert retry.replaces == tuple(owner(retry.id, n, f"request{n}")
                                       for n in range(attempt + 1))
    assert json.loads(payload)["attempt"] == 4
    assert redeliveries.again(payload, "died", 5, "request4") is None
    assert "delivered 5 times" in redeliveries.spent(json.loads(payload)["id"])


def hold(gate: str, x: int) -> int:
    """Keep its executor busy until the file `gate` exists."""
    while not os.path.exists(gate):
        time.sleep(0.005)
    return x


def workers_while_all_busy(cluster: wukong.LocalCluster, gate: pathlib.Path,
                           awaited: int | None = None) -> int:
    """Run as many holding leaves as the runtime has workers, one executor each (named
    after `gate`: a kind not seen before, so none is grouped with another); once every one
    of those workers is busy, how many worker processes the runtime has (with `awaited`:
    once it has that many, while they are held; a standby is forked after the busy ones
    start). The job is then let go and must be right."""
    count = len(chaos_faults.runtime_workers(cluster))
    dsk = {(gate.name, i): (hold, str(gate), i) for i in range(count)}
    dsk["total"] = (sum, list(dsk))
    done: dict = {}
    with dask.config.set({"wukong.scheduling.work-queue": False}):
        job = threading.Thread(target=lambda: done.update(value=wukong.get(dsk, "total")))
        job.start()
    try:
        wait_for(lambda: len(chaos_faults.busy_workers(cluster)) >= count)
        if awaited is not None:
            wait_for(lambda: len(chaos_faults.runtime_workers(cluster)) >= awaited, 30.0)
        return len(chaos_faults.runtime_workers(cluster))
    finally:
        gate.touch()
        job.join()
        assert done.get("value") == sum(range(count))


@pytest.mark.timeout(120)
def test_once_a_worker_died_one_more_waits_beside_the_busy_ones(tmp_path):
    """A job that keeps every worker busy forks no other while none has died. Once one
    died, the runtime keeps one more started and idle beside busy workers (a standby for the
    next death's retry), and the jobs are right."""
    with wukong.LocalCluster(shards=1) as cluster:
        before = len(chaos_faults.runtime_workers(cluster))
        assert workers_while_all_busy(cluster, tmp_path / "first") == before
        dsk = {"m": str(tmp_path / "died"), "dies": (die_once, "m", 1)}
        assert wukong.get(dsk, "dies") == 2
        wait_for(lambda: not chaos_faults.busy_workers(cluster))
        now = len(chaos_faults.runtime_workers(cluster))
        assert workers_while_all_busy(cluster, tmp_path / "second", now + 1) == now + 1
