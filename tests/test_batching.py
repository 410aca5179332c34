"""Batching of cheap tasks and of waiting ones, and learned task durations and CPU times: where
batching must fire and where it must not, read from the job's events (which executor ran
which task, Redis round trips), with results equal to Dask's. Each test uses task prefixes
of its own, so durations learned by one test (they live in the cluster's Redis for the whole
session) never steer another. Batching is compared with the paper's one executor per leaf,
so the work queue (see tests/test_work_queue.py) is off here.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import dask
import numpy as np
import pytest

import wukong
from static_scheduler import (
    Batch,
    Batching,
    build_job_graph,
    start_batches,
    task_prefixes,
    to_task_graph,
)
from storage_manager.protocol import Invocation
from storage_manager.region import Region
from storage_manager.signing import Signer
from wukong.measurement import TaskCpuShares, TaskDurations

LOCAL = Batching(parallelism=2)


def pair(a, b):
    return a + b


def slow(x):
    """10 ms on the CPU: expensive, and never waiting."""
    end = time.perf_counter() + 0.01
    while time.perf_counter() < end:
        pass
    return x + 1


def nap(a, b):
    """50 ms asleep: a task that waits, like a remote call."""
    time.sleep(0.05)
    return a + b


def boom(a, b):
    raise ValueError(f"refusing to add {a} and {b}")


def tree(prefix: str, leaves: int, combine=pair, leaf_tasks: bool = False) -> tuple[dict, tuple]:
    """Pairwise `combine` over `leaves` values (or cheap leaf tasks); the root's key."""
    if leaf_tasks:
        dsk: dict = {(prefix + "_leaf", 0, i): (pair, i, 1) for i in range(leaves)}
        level = [(prefix + "_leaf", 0, i) for i in range(leaves)]
    else:
        dsk = {(prefix + "_leaf", 0, i): float(i) for i in range(leaves)}
        level = list(dsk)
    depth = 0
    while len(level) > 1:
        depth += 1
        nxt = [(prefix, depth, i // 2) for i in range(0, len(level), 2)]
        dsk.update({key: (combine, level[2 * j], level[2 * j + 1]) for j, key in enumerate(nxt)})
        level = nxt
    return dsk, level[0]


NO_QUEUE = {"wukong.scheduling.work-queue": False}


def run(dsk, root, config=None):
    with dask.config.set({**NO_QUEUE, **(config or {})}):
        got = wukong.get(dsk, root)
    assert got == dask.get(dsk, root)
    return wukong.last_job()


def executors_of(report) -> Counter:
    return Counter(t.executor for t in report.tasks)


@pytest.mark.usefixtures("fan_ins_in_executors")
def test_batching_fires_once_durations_are_learned(cluster):
    dsk, root = tree("learned", 64)
    first = run(dsk, root)
    assert first.executors_invoked == 32  # unknown prefix: one executor per first-level add
    again = run(dsk, root)
    assert again.executors_invoked <= cluster.parallelism
    assert again.num_tasks == 63


def test_fan_ins_inside_a_batch_make_no_redis_call(cluster):
    dsk, root = tree("local", 64)
    run(dsk, root)
    report = run(dsk, root)
    batched = [t for t in report.tasks if t.key != root]
    quiet = [t for t in batched if t.round_trips == 0]
    # only an executor's claim of its start tasks (counted with its first task) and its last
    # publish (events, and a mark at the fan-in joining batches, or the result) talk to Redis
    assert len(batched) - len(quiet) <= 2 * report.executors_invoked
    assert report.round_trips <= 4 * report.executors_invoked


def test_durations_are_learned_per_prefix_and_shared(cluster):
    dsk, root = tree("shared", 16)
    run(dsk, root)
    learned = TaskDurations(cluster.shards.shards[0].client, cluster.function).read()
    assert 0 < learned["shared"] < 0.01
    assert "shared_leaf" not in learned  # data nodes do not run


def test_expensive_tasks_are_never_batched(cluster):
    dsk, root = tree("expensive", 8, combine=lambda a, b: slow(a + b))
    run(dsk, root)
    report = run(dsk, root)
    assert report.executors_invoked == 4


def test_waiting_tasks_run_at_once_in_one_executor(cluster):
    """Once their CPU share is learned, 8 sleeping first-level adds start as one batch that
    runs them all at once: every level's adds overlap, and the job takes about its depth."""
    dsk, root = tree("napping", 16, combine=nap)
    first = run(dsk, root)
    assert first.executors_invoked == 8
    cpu = TaskCpuShares(cluster.shards.shards[0].client, cluster.function).read()
    assert cpu["napping"] < 0.25
    report = run(dsk, root)
    assert report.executors_invoked == 1
    level_one = [t for t in report.tasks if t.key[1] == 1]
    assert max(t.start for t in level_one) < min(t.end for t in level_one)
    assert report.wall_seconds < 2 * 4 * 0.05  # 4 levels; one after another would be 15 naps


def test_one_thread_starts_waiting_leaves_alone(cluster):
    dsk, root = tree("napalone", 8, combine=nap)
    run(dsk, root)
    assert run(dsk, root, {"wukong.scheduling.threads": 1}).executors_invoked == 4


def test_cheap_leaves_before_expensive_tasks_stay_apart(cluster):
    """Cheap leaf tasks whose dependents are slow: batching them would run the slow tasks
    one after another in one executor."""
    dsk = {("apart_leaf", i): (pair, i, 1) for i in range(8)}
    dsk.update({("apart_slow", i): (slow, ("apart_leaf", i)) for i in range(8)})
    dsk["apart_total"] = (sum, [("apart_slow", i) for i in range(8)])
    run(dsk, "apart_total")
    report = run(dsk, "apart_total")
    slow_executors = {t.executor for t in report.tasks if t.key[0] == "apart_slow"}
    assert len(slow_executors) == 8


@pytest.mark.parametrize("prefix, combine, bad", [("failing", pair, 3),
                                                    ("napfail", nap, 5)])  # threaded batch
def test_a_failing_task_in_a_batch_raises_with_its_key(cluster, prefix, combine, bad):
    dsk, root = tree(prefix, 32, combine=combine)
    run(dsk, root)
    bad = (prefix, 2, bad)
    dsk[bad] = (boom, *dsk[bad][1:])
    with pytest.raises(ValueError, match="refusing to add") as info:
        wukong.get(dsk, root)
    assert str(bad) in "".join(info.value.__notes__)
    assert wukong.last_job().executors_invoked <= cluster.parallelism


def test_the_switch_turns_batching_off(cluster):
    dsk, root = tree("switched", 64)
    run(dsk, root)
    report = run(dsk, root, {"wukong.scheduling.batch-cheap-tasks": False})
    assert report.executors_invoked == 32


def test_bad_batching_settings_are_named():
    with pytest.raises(ValueError, match=r"wukong\.scheduling\.cheap-seconds"):
        Batching(cheap_seconds=-1)
    with pytest.raises(ValueError, match=r"wukong\.scheduling\.threads"):
        Batching(threads=0)


# -- the static side, without Redis ------------------------------------------------------------

def job(dsk, root):
    return build_job_graph("j", to_task_graph(dsk, [root]), [root], 1, 60_000)


def known(graph, seconds):
    return [seconds.get(p) for p in task_prefixes(graph.keys)]


def test_region_takes_what_only_its_leaves_make_ready():
    graph = job(*tree("region", 8, leaf_tasks=True))
    index = {k: i for i, k in enumerate(graph.keys)}
    leaves = [index["region_leaf", 0, i] for i in range(4)]
    region = Region(graph, leaves)
    assert {graph.keys[t] for t in region.tasks} == {
        *(("region_leaf", 0, i) for i in range(4)),
        ("region", 1, 0), ("region", 1, 1), ("region", 2, 0)}
    assert Region(graph, leaves[:3]).add(leaves[3]) == [leaves[3], index["region", 1, 1],
                                                         index["region", 2, 0]]
    partial = Region(graph, leaves[:3])
    assert partial.add(leaves[3], allowed=lambda t: graph.keys[t][0] != "region") is None
    assert len(partial) == 4  # leaves 0-2 and the add of 0 and 1


def test_batches_split_siblings_over_the_cores():
    graph = job(*tree("split", 64, leaf_tasks=True))
    cheap = known(graph, {"split": 1e-6, "split_leaf": 1e-6})
    batches = start_batches(graph, cheap, Batching(parallelism=2, invoke_seconds=0.0001,
                                                   cheap_seconds=0.001))
    assert sorted(t for b in batches for t in b.tasks) == sorted(graph.leaves)
    assert len(batches) <= 2 and all(b.threads == 1 for b in batches)
    halves = [{graph.keys[t][2] // 32 for t in b.tasks} for b in batches]
    assert all(len(h) == 1 for h in halves) or len(batches) == 1


def test_unknown_or_expensive_leaves_start_alone():
    graph = job(*tree("alone", 16, leaf_tasks=True))
    single = sorted(Batch((leaf,)) for leaf in graph.leaves)
    assert sorted(start_batches(graph, known(graph, {}), LOCAL)) == single
    slow_leaves = known(graph, {"alone": 1e-6, "alone_leaf": 0.5})
    assert sorted(start_batches(graph, slow_leaves, LOCAL)) == single
    slow_adds = known(graph, {"alone": 0.5, "alone_leaf": 1e-6})
    for batch, _ in start_batches(graph, slow_adds, LOCAL):  # cheap leaves may share one,
        region = Region(graph, batch).tasks if len(batch) > 1 else ()  # never a slow add
        assert all(graph.keys[t][0] == "alone_leaf" for t in region)
    off = Batching(enabled=False, parallelism=2)
    cheap = known(graph, {"alone": 1e-6, "alone_leaf": 1e-6})
    assert sorted(start_batches(graph, cheap, off)) == single


def test_waiting_leaves_share_threaded_batches_by_subtree():
    graph = job(*tree("waits", 64, combine=nap))
    durations = known(graph, {"waits": 0.05})
    mostly_waiting = known(graph, {"waits": 0.02})
    batches = start_batches(graph, durations, Batching(parallelism=2, threads=8),
                            cpu=mostly_waiting)
    assert sorted(t for b in batches for t in b.tasks) == sorted(graph.leaves)
    assert [b.threads for b in batches] == [8, 8, 8, 8]
    for b in batches:  # each a subtree of 8 first-level adds
        assert len({graph.keys[t][2] // 8 for t in b.tasks}) == 1
    busy = known(graph, {"waits": 0.8})
    assert all(len(b.tasks) == 1 for b in start_batches(graph, durations, Batching(threads=8),
                                                           cpu=busy))
    assert all(len(b.tasks) == 1 for b in start_batches(graph, durations, Batching(threads=1),
                                                           cpu=mostly_waiting))


def test_an_invocation_carries_its_threads():
    signer = Signer.generate()
    sent = Invocation(job="j", task=1, batch=(2, 3), threads=3)
    got = Invocation.from_event(json.loads(sent.encode(signer)), signer)
    assert (got.tasks, got.threads) == ((1, 2, 3), 3)
    one = Invocation(job="j", task=1).encode(signer)
    assert Invocation.from_event(json.loads(one), signer).threads == 1


def sleepy_array(value, seconds):
    """2 MB (large: `wukong.locality.large-object-bytes` is 1 MiB), after a sleep."""
    time.sleep(seconds)
    return np.full(250_000, float(value))


def join(a, b):
    time.sleep(0.02)
    return a + b


def test_waiting_batches_hold_large_outputs_while_their_threads_run(cluster):
    """In the first batch, pair 0 is joined while pair 1 still sleeps: its large output is
    held at the final fan-in (delayed I/O) while the batch's threads run on, and the job
    still ends with Dask's answer. (Grouping by large outputs is off: it would start the
    same leaves together, but one after another.)"""
    naps = {0: 0.05, 1: 0.4, 2: 0.2, 3: 0.25}  # two batches of equal work: pairs 0-1, 2-3
    dsk = {}
    for i, seconds in naps.items():
        dsk[("holdnap_a", i)] = (sleepy_array, i, seconds)
        dsk[("holdnap_b", i)] = (sleepy_array, -2 * i, seconds)
        dsk[("holdjoin", i)] = (join, ("holdnap_a", i), ("holdnap_b", i))
    dsk["holdtotal"] = (lambda *arrays: float(sum(a[-1] for a in arrays)),
                        *[("holdjoin", i) for i in naps])
    with dask.config.set({"wukong.scheduling.threads": 4, "wukong.locality.grouping": False}):
        run(dsk, "holdtotal")
        for _ in range(4):  # until the learned estimates call the naps waiting (a moving
            report = run(dsk, "holdtotal")  # average: a loaded machine may take more runs)
            if report.executors_invoked == 2:
                break
    assert report.executors_invoked == 2
    tasks = {t.key: t for t in report.tasks}
    assert tasks["holdjoin", 0].start < tasks["holdnap_a", 1].start + 0.3  # while 1 sleeps
