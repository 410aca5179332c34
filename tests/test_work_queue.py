"""The work queue: a first run, with nothing learned, starts about as many executors as run at
once, and they pull the job's leaves in batches that grow while tasks are cheap; tasks that
wait are told apart as they run and go on threads. Read from the job's report (which
executor ran which task, how many were invoked), with results equal to Dask's. Each test
uses task prefixes of its own, so nothing one test teaches the cluster steers another.
"""

from __future__ import annotations

import os
import pathlib
import time
import uuid
from collections import Counter
from operator import add

import dask
import dask.bag as db
import pytest
from conftest import job

import wukong
from executor_lambda.loop.puller import SLOW_BATCH_SECONDS, Puller
from executor_lambda.loop.waiting import WaitingTasks
from executor_lambda.measurement import Measures
from static_scheduler import Batching, PlanSettings, plan, to_task_graph
from static_scheduler.estimates import Estimates
from storage_manager import JobStore, dumps
from storage_manager.protocol import Invocation
from storage_manager.protocol.delivery import child_id
from storage_manager.queue_plan import WAITING_CPU_SHARE, QueuePlan


@pytest.fixture(autouse=True)
def work_queue_on():
    """The queue is on by default (`wukong.scheduling.work-queue`); these tests make sure,
    whatever the session's configuration."""
    with dask.config.set({"wukong.scheduling.work-queue": True}):
        yield


def tree(prefix: str, leaves: int, combine=add) -> tuple[dict, tuple]:
    """Pairwise `combine` over `leaves` cheap leaf tasks; the root's key."""
    level = [(prefix + "_leaf", i) for i in range(leaves)]
    dsk: dict = {key: (add, i, 1) for i, key in enumerate(level)}
    depth = 0
    while len(level) > 1:
        depth += 1
        nxt = [(prefix, depth, i) for i in range(len(level) // 2)]
        dsk.update({key: (combine, level[2 * i], level[2 * i + 1]) for i, key in enumerate(nxt)})
        level = nxt
    return dsk, level[0]


def nap(a, b):
    """50 ms asleep: a task that waits, like a remote call."""
    time.sleep(0.05)
    return a + b


def inc(x):
    return x + 1


def run(dsk, root, config=None):
    with dask.config.set(config or {}):
        got = wukong.get(dsk, root)
    assert got == dask.get(dsk, root)
    return wukong.last_job()


def test_a_cold_tree_of_8192_leaves_needs_few_invocations(cluster):
    dsk, root = tree("coldtree", 8192)
    report = run(dsk, root)
    leaves = [t for t in report.tasks if t.key[0] == "coldtree_leaf"]
    assert len(leaves) == 8192 and report.num_tasks == len(dsk)
    assert report.executors_invoked * 64 <= len(leaves)
    assert len(Counter(t.executor for t in leaves)) <= report.executors_invoked


def test_a_cold_map_reduce_of_20000_tasks_needs_few_invocations(cluster):
    bag = db.range(20_000, npartitions=20_000).map(inc).sum()
    with dask.config.set({"wukong.scheduling.client-finalize": False}):
        got = bag.compute(scheduler="wukong")
    assert got == bag.compute(scheduler="sync")
    report = wukong.last_job()
    assert report.num_tasks >= 40_000
    assert report.executors_invoked * 100 <= report.num_tasks


def test_fan_outs_run_here_while_the_queue_keeps_executors_busy(cluster):
    """Each of 256 leaves fans out to 3 tasks: while others pull the queue, no executor
    starts new ones for them."""
    dsk: dict = {}
    sums = []
    for i in range(256):
        dsk["fanleaf", i] = (add, i, 1)
        for j in range(3):
            dsk["fanout", i, j] = (inc, ("fanleaf", i))
        dsk["fansum", i] = (sum, [("fanout", i, j) for j in range(3)])
        sums.append(("fansum", i))
    dsk["fantotal"] = (sum, sums)
    report = run(dsk, "fantotal", {"wukong.scheduling.client-finalize": False})
    fan_outs = [t for t in report.tasks if t.key[0] == "fanout"]
    assert len(fan_outs) == 768
    assert report.executors_invoked <= cluster.parallelism  # only those the plan started


def test_the_switch_turns_the_queue_off(cluster):
    dsk, root = tree("unqueued", 64)
    report = run(dsk, root, {"wukong.scheduling.work-queue": False,
                             "wukong.scheduling.batch-cheap-tasks": False})
    assert report.executors_invoked == 64


def test_a_cold_waiting_task_does_not_block_ready_ones(cluster):
    """Every add sleeps; on a first run, the first add an executor runs shows it waits, and
    from then on its adds run on threads: adds of one executor overlap."""
    dsk, root = tree("coldnap", 64, combine=nap)
    report = run(dsk, root)
    assert report.executors_invoked <= cluster.parallelism + 8
    naps: dict[str, list] = {}
    for t in report.tasks:
        if t.key[0] == "coldnap":
            naps.setdefault(t.executor, []).append(t)
    overlapping = [ts for ts in naps.values()
                   if any(a.start < b.end and b.start < a.end
                          for i, a in enumerate(ts) for b in ts[i + 1:])]
    assert overlapping


def meet(directory: str, name: int, everyone: int) -> int:
    """Wait, mostly asleep, until `everyone` tasks have arrived in `directory`."""
    pathlib.Path(directory, str(name)).touch()
    deadline = time.monotonic() + 60
    while len(os.listdir(directory)) < everyone:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(os.listdir(directory))} of {everyone} arrived")
        time.sleep(0.001)
    return name


def test_the_first_task_of_a_kind_is_judged_while_it_waits(cluster, tmp_path):
    """Leaves of a kind never seen that wait until all of them have started: each executor
    must start several at once, so the first of them, judged while it runs, must not hold
    up the others until it ends (it would never end)."""
    everyone = 4 * cluster.parallelism + 1
    name = f"meet-{uuid.uuid4().hex[:8]}"
    dsk = {(name, i): (meet, str(tmp_path), i, everyone) for i in range(everyone)}
    dsk["all"] = (sum, list(dsk))
    assert wukong.get(dsk, "all") == sum(range(everyone))
    assert wukong.last_job().executors_invoked <= cluster.parallelism + 1


def test_a_kind_is_judged_by_what_its_first_task_did(cluster):
    """On a first run, cheap adds measure as computing (their share is taken over their own
    run, not over the loop's wake-up) and naps as waiting."""
    report = run(*tree("judged", 64, combine=nap))
    shares: dict[str, list[float]] = {}
    for t in report.tasks:
        if t.cpu_share is not None:
            shares.setdefault(t.key[0], []).append(t.cpu_share)
    assert shares["judged_leaf"] and min(shares["judged_leaf"]) > WAITING_CPU_SHARE
    assert shares["judged"] and max(shares["judged"]) <= WAITING_CPU_SHARE


def test_a_failing_task_in_a_pulled_batch_raises_with_its_key(cluster):
    dsk, root = tree("qfail", 256)

    def boom(a, b):
        raise ValueError(f"refusing to add {a} and {b}")

    bad = ("qfail", 3, 7)
    dsk[bad] = (boom, *dsk[bad][1:])
    with pytest.raises(ValueError, match="refusing to add") as info:
        wukong.get(dsk, root)
    assert str(bad) in "".join(info.value.__notes__)


# -- the plan ---------------------------------------------------------------------------------
def test_the_plan_starts_what_runs_at_once_and_queues_the_rest():
    dsk, root = tree("planned", 16)
    settings = PlanSettings(num_shards=2, ttl_ms=60_000, batching=Batching(parallelism=3))
    job_plan = plan(to_task_graph(dsk, root), root, Estimates(), settings)
    graph = job_plan.graph
    started = [s.tasks for s in job_plan.starts]
    assert len(started) == 3 and all(len(tasks) == 1 for tasks in started)
    # nothing learned: the first task might wait, so the loop runs it, watched (no seed)
    assert not any(s.seed for s in job_plan.starts)
    assert len(job_plan.queued) == 13
    assert {t for s in started for t in s} | set(job_plan.queued) == set(graph.leaves)
    assert graph.queue.workers == 3
    # depth-first, so a run of the queue is a subtree: two start at the head of the
    # leaves, one at the tail, and the leaves between wait in the queue
    leaves = _leaves_depth_first(graph)
    assert [s[0] for s in started] == [*leaves[:2], leaves[-1]]
    assert list(job_plan.queued) == leaves[2:-1]
    assert graph.queue.end == 15  # the queue's end in the leaves' order, for aligned pulls
    assert graph.queue.tail == {leaves[-1]}  # its executor pulls from the queue's tail


def _leaves_depth_first(graph) -> list[int]:
    """The leaves in the order a depth-first walk down from the outputs meets them."""
    seen, order, stack = set(), [], [t for t, d in enumerate(graph.dependents) if not d][::-1]
    while stack:
        task = stack.pop()
        if task not in seen:
            seen.add(task)
            order += [task] if task in graph.leaves else []
            stack.extend(reversed(graph.dependencies[task]))
    return order


def test_a_queued_job_seeds_only_leaves_known_to_compute():
    dsk, root = tree("seeded", 16)
    settings = PlanSettings(num_shards=2, ttl_ms=60_000, batching=Batching(parallelism=3))
    tasks = to_task_graph(dsk, root)
    computing = plan(tasks, root, Estimates(cpu_shares={"seeded_leaf": 1.0}), settings)
    waiting = plan(tasks, root, Estimates(cpu_shares={"seeded_leaf": 0.0}), settings)
    assert computing.queued and all(s.seed for s in computing.starts)
    assert waiting.queued and not any(s.seed for s in waiting.starts)


def test_few_leaves_need_no_queue():
    dsk, root = tree("fewleaves", 4)
    settings = PlanSettings(num_shards=2, ttl_ms=60_000, batching=Batching(parallelism=8))
    job_plan = plan(to_task_graph(dsk, root), root, Estimates(), settings)
    assert len(job_plan.starts) == 4 and not job_plan.queued
    assert job_plan.graph.queue.workers == 0


def test_learned_waiting_prefixes_reach_the_executors():
    dsk, root = tree("learnednap", 4, combine=nap)
    settings = PlanSettings(num_shards=2, ttl_ms=60_000, batching=Batching(threads=8))
    estimates = Estimates(cpu_shares={"learnednap": 0.01, "learnednap_leaf": 0.9})
    graph = plan(to_task_graph(dsk, root), root, estimates, settings).graph
    assert graph.queue.waiting == frozenset({"learnednap"})
    assert graph.queue.threads == 8
    waiting_leaves = Estimates(cpu_shares={"learnednap_leaf": 0.01})
    starts = plan(to_task_graph(dsk, root), root, waiting_leaves, settings).starts
    assert starts and not any(s.seed for s in starts)  # they run on threads, not first


# -- pulling, against the cluster's Redis -----------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def queued_store(cluster, tasks: int, workers: int = 1, end: int = 0,
                 tail: frozenset[int] = frozenset()) -> JobStore:
    graph = job(f"pull{tasks}w{workers}e{end}", num_shards=len(cluster.shards))
    graph.queue = QueuePlan(workers=workers, end=end, tail=tail)
    store = JobStore(cluster.shards, graph, owner="puller")
    store.upload(dumps(graph), list(range(tasks)))
    return store


def start(store: JobStore) -> Invocation:
    """A first delivery's invocation in `store`'s job."""
    return Invocation(job=store.graph.job_id, task=0, id="first")


def test_pulls_grow_while_tasks_are_cheap_and_drain_the_queue(cluster):
    store = queued_store(cluster, 200)
    clock = Clock()
    puller = Puller(store, start(store), clock)
    taken, sizes = [], []
    try:
        while batch := puller.pull():  # no time passes: every batch was cheap
            taken += batch
            sizes.append(len(batch))
    finally:
        store.cleanup()
    assert taken == list(range(200))  # each task once, in the queue's order
    assert sizes[:5] == [1, 2, 4, 8, 16]
    assert not puller.active


def test_pulls_shrink_when_tasks_are_slow(cluster):
    store = queued_store(cluster, 100)
    clock = Clock()
    puller = Puller(store, start(store), clock)
    try:
        sizes = [len(puller.pull()) for _ in range(4)]
        clock.now += SLOW_BATCH_SECONDS * 2
        sizes.append(len(puller.pull()))
    finally:
        store.cleanup()
    assert sizes == [1, 2, 4, 8, 4]
    assert puller.size == 4


class Invocations:
    """An invoker that only records what it was asked to invoke."""

    def __init__(self):
        self.made = []

    def invoke(self, invocations):
        self.made += invocations


def test_an_executor_near_its_deadline_hands_the_queue_over(cluster):
    store = queued_store(cluster, 10)
    puller, invoker = Puller(store, start(store), Clock()), Invocations()
    try:
        assert puller.pull() == [0]
        puller.hand_over(invoker)
        assert not puller.active
        assert [i.task for i in invoker.made] == [1]  # the next pulls on
        assert invoker.made[0].id == child_id("first", 1)  # a retry's would be the same
        assert Puller(store, start(store), Clock()).pull() == [2]
    finally:
        store.cleanup()


def test_a_pull_takes_no_more_than_its_share(cluster):
    store = queued_store(cluster, 64, workers=4)
    puller = Puller(store, start(store), Clock())
    puller.size = 1000
    try:
        assert len(puller.pull()) == 16  # a quarter of what is left
        assert len(puller.pull()) == 12
    finally:
        store.cleanup()


def test_pulls_end_where_runs_of_the_leaves_end(cluster):
    """Two leaves started first; of the 30 queued, each pull of n ends at a multiple of the
    largest power of two <= n in the leaves' order: whole subtrees of a tree of pairs."""
    store = queued_store(cluster, 30, workers=2, end=32)
    puller = Puller(store, start(store), Clock())
    taken = []
    try:
        for size in (1, 2, 4, 8, 8, 16):
            puller.size = size
            taken.append(puller.pull())
    finally:
        store.cleanup()
    ranks = [[task + 2 for task in batch] for batch in taken]
    assert ranks == [[2], [3], [4, 5, 6, 7], list(range(8, 16)), list(range(16, 24)),
                     list(range(24, 28))]  # the last: its fair share of 8 left, 4


def test_head_and_tail_pullers_take_whole_subtrees_from_their_own_ends(cluster):
    """One leaf started at each end of 32; of the 30 queued (ranks 1 to 30), the head's
    puller takes runs that end at multiples of a power of two, the tail's (its start leaf,
    task 1000 here, is the plan's tail start) runs that start at one: each takes whole
    subtrees of a tree of pairs from its own end, and together every task once. (Each
    pull's size doubles the one set: no time passes, so every batch was cheap.)"""
    store = queued_store(cluster, 30, workers=2, end=31, tail=frozenset({1000}))
    head = Puller(store, start(store), Clock())
    tail = Puller(store, Invocation(job=store.graph.job_id, task=1000, id="tail"), Clock())
    taken = {"head": [], "tail": []}
    try:
        for size in (1, 2, 4, 8):
            for name, puller in (("head", head), ("tail", tail)):
                puller.size = size
                taken[name].append([task + 1 for task in puller.pull()])
        rest = []
        while batch := head.pull() + tail.pull():
            rest += [task + 1 for task in batch]
    finally:
        store.cleanup()
    assert taken["head"] == [[1], [2, 3], [4, 5, 6, 7], list(range(8, 16))]
    # the tail's fourth pull: its fair share of the 8 left
    assert taken["tail"] == [[30], [28, 29], [24, 25, 26, 27], [20, 21, 22, 23]]
    assert sorted(rest) == [16, 17, 18, 19]  # the ends met: every task taken once


def test_a_pull_that_fills_free_threads_is_not_shortened(cluster):
    """Tasks that wait run on an executor's threads: a pull sized to fill them takes as many
    as it asks for, wherever a run of the leaves ends (aligned, it would take 2)."""
    store = queued_store(cluster, 30, workers=2, end=32)
    try:
        assert len(Puller(store, start(store), Clock()).pull(at_least=3)) == 3
    finally:
        store.cleanup()


# -- telling waiting tasks apart ------------------------------------------------------------
def test_waiting_tasks_are_told_apart_per_prefix():
    dsk = {"x": 1, "nap-1": (inc, "x"), "nap-2": (inc, "x"), "work-1": (inc, "x")}
    graph = job("waits", keys=("nap-1", "nap-2", "work-1"), dsk=dsk)
    graph.queue = QueuePlan(threads=4)
    waiting = WaitingTasks(graph, lambda threads: None)
    nap1, nap2, work = (graph.keys.index(k) for k in ("nap-1", "nap-2", "work-1"))
    assert not waiting.known(nap2) and not waiting.waits(nap2)
    waiting.observe(nap1, Measures(cpu_share=0.01))
    assert waiting.known(nap2) and waiting.waits(nap2)
    waiting.observe(work, Measures(cpu_share=0.9))
    assert waiting.known(work) and not waiting.waits(work)
    graph.queue = QueuePlan(threads=1)  # no threads to run them on
    one_thread = WaitingTasks(graph, lambda threads: None)
    one_thread.observe(nap1, Measures(cpu_share=0.01))
    assert one_thread.known(nap2) and not one_thread.waits(nap2)
