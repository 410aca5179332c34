"""Chaos: random DAGs (hypothesis) under each fault of `benchmarks.chaos_faults` on one
cluster. Each job is correct (against dask's sync scheduler) or fails with a clear error
(`CLEAR_ERRORS`), never hangs (the job timeout is only a backstop: a `JobTimeout` counts as
a hang), leaves no job key on any shard, and the next job on the same cluster is correct.

Duplicate delivery is a cluster's property: its jobs run on a cluster whose runtime delivers
every invocation twice, alone and with executors killed; a tree of tasks with side effects
there runs each task once.

Marked `chaos` (`pytest -m chaos` runs only these); the example counts keep the whole marker
within a few minutes on a small machine.
"""

from __future__ import annotations

import os
import pathlib
import random
import threading
import time

import pytest
from conftest import wait_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wukong
from benchmarks import chaos_faults, random_dag
from executor_lambda import ExecutorDied

pytestmark = pytest.mark.chaos

JOB_TIMEOUT = 30.0
EXAMPLES = int(os.environ.get("WUKONG_CHAOS_EXAMPLES", "6"))
"""DAGs per fault (more for a longer soak: `WUKONG_CHAOS_EXAMPLES=50 pytest -m chaos`)."""
MAY_FAIL_WITH = {"none": (), "kill": (), "proxy": (), "shard": ("ShardLost",),
                 "cancel": ("JobCancelled",)}
"""The clear errors each fault may end a job with: one kill is within the retries, and a
new proxy takes over a dead one's batches, so those jobs must be correct."""

dags = st.tuples(st.integers(8, 48), st.integers(0, 2**31 - 1), st.sampled_from([0.3, 0.6]))
CHAOS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def chaos_cluster():
    with chaos_faults.chaos_cluster(shards=2) as c:
        yield c


@pytest.fixture(scope="module")
def doubled_cluster():
    """Every invocation delivered twice, as Lambda's at-least-once delivery may."""
    with chaos_faults.chaos_cluster(shards=2, duplicate=True) as c:
        yield c


def assert_survives(cluster: wukong.LocalCluster, fault: str, dag: tuple) -> None:
    tasks, seed, naps = dag
    nodes = random_dag.generate(tasks, seed, naps)
    expected = chaos_faults.expected_value(nodes)
    outcome = chaos_faults.run_job(cluster, nodes, fault, random.Random(seed),
                                   timeout=JOB_TIMEOUT, expected=expected)
    assert outcome.result in ("correct", "failed"), outcome
    if outcome.result == "failed":
        assert outcome.error.partition(":")[0] in MAY_FAIL_WITH[fault], outcome
    assert outcome.keys_left == 0, outcome
    after = chaos_faults.run_job(cluster, nodes, "none", random.Random(seed),
                                 timeout=JOB_TIMEOUT, expected=expected)
    assert after.result == "correct", after
    assert after.keys_left == 0, after


@pytest.mark.parametrize("fault", chaos_faults.FAULTS)
@CHAOS
@given(dag=dags)
def test_random_dags_survive_each_fault(chaos_cluster, fault, dag):
    assert_survives(chaos_cluster, fault, dag)


@pytest.mark.parametrize("fault", ["none", "kill"], ids=["duplicates", "duplicates-and-kill"])
@CHAOS
@given(dag=dags)
def test_random_dags_survive_duplicate_delivery(doubled_cluster, fault, dag):
    assert_survives(doubled_cluster, fault, dag)


def test_no_side_effect_repeats_under_duplicate_delivery(doubled_cluster, tmp_path):
    dsk, root = chaos_faults.sleeping_tree(32, 0.01, tmp_path)
    assert doubled_cluster.get(dsk, root) == 32
    assert chaos_faults.started(tmp_path) == len(dsk)
    assert chaos_faults.repeats(tmp_path) == 0
    assert chaos_faults.job_keys(doubled_cluster) == 0


def test_a_fault_free_chaos_job_is_correct_and_injects_nothing(chaos_cluster):
    nodes = random_dag.generate(20, seed=3, naps=0.3)
    outcome = chaos_faults.run_job(chaos_cluster, nodes, "none", random.Random(3))
    assert (outcome.result, outcome.injected, outcome.keys_left) == ("correct", False, 0)


def wait_for_go(directory: str, x: int) -> int:
    """Leave a file named after this process, then wait for a file `go`."""
    pathlib.Path(directory, f"pid-{os.getpid()}").touch()
    while not pathlib.Path(directory, "go").exists():
        time.sleep(0.01)
    return x + 1


def pids_started(directory: pathlib.Path) -> set[int]:
    return {int(p.name[4:]) for p in directory.glob("pid-*")}


def test_the_kill_strikes_the_worker_running_a_task_and_spares_idle_ones(chaos_cluster,
                                                                          tmp_path):
    def busy() -> set[int]:
        return {w.pid for w in chaos_faults.busy_workers(chaos_cluster)}

    wait_for(lambda: not busy())
    ended: list = []
    job = threading.Thread(target=lambda: ended.append(
        chaos_cluster.get({"a": (wait_for_go, str(tmp_path), 1)}, "a")))
    job.start()
    wait_for(lambda: pids_started(tmp_path))
    (first,) = pids_started(tmp_path)
    assert busy() == {first}
    assert chaos_faults.kill_executor(chaos_cluster, random.Random(0), job.is_alive)
    wait_for(lambda: len(pids_started(tmp_path)) == 2)  # the retry runs the task again
    (tmp_path / "go").touch()
    job.join(timeout=60)
    assert ended == [2]
    wait_for(lambda: not busy())
    assert not chaos_faults.kill_executor(chaos_cluster, random.Random(0), lambda: False)


def test_an_unknown_fault_is_refused_by_name(chaos_cluster):
    with pytest.raises(ValueError, match="'flood'"):
        chaos_faults.run_job(chaos_cluster, random_dag.generate(4, 1), "flood", random.Random())


def test_clear_errors_and_hangs_are_told_apart():
    classify = chaos_faults.classify
    assert classify(None, wukong.JobCancelled("job j was cancelled"), 1, done=True) == "failed"
    assert classify(None, ExecutorDied("died. It was running task 'a'."), 1, True) == "failed"
    assert classify(None, ExecutorDied("died"), 1, done=True) == "unclear"
    assert classify(None, wukong.JobTimeout("x"), 1, done=True) == "hung"
    assert classify(None, None, 1, done=False) == "hung"
    assert classify(None, RuntimeError("x"), 1, done=True) == "unclear"
    assert classify((2,), None, (1,), done=True) == "wrong"
    assert classify((1,), None, (1,), done=True) == "correct"
