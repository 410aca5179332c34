"""Pulled work survives a dead executor: each pull records its tasks under the delivery that
took them, and the first pull of a retried delivery queues a dead delivery's tasks again
(`lua/pull.lua`). Against real Redis: the take-over rule on the queue itself, then whole jobs
whose executors pulled, with a SIGKILL after a pull and with duplicate delivery."""

from __future__ import annotations

import os
import pathlib
import signal
from collections import Counter
from operator import add

import dask
import pytest
from conftest import job, job_keys

import wukong
from executor_lambda.platforms.local.settings import ENV_DUPLICATE_DELIVERY
from storage_manager import JobStore, dumps
from storage_manager.claims import claim_starts
from storage_manager.queue_plan import QueuePlan
from storage_manager.work_queue import pull


def queued(cluster, name: str, tasks: int, owner: str) -> JobStore:
    graph = job(name, num_shards=len(cluster.shards))
    graph.queue = QueuePlan(workers=1)
    store = JobStore(cluster.shards, graph, owner=owner)
    store.upload(dumps(graph), list(range(tasks)))
    return store


def as_owner(store: JobStore, owner: str) -> JobStore:
    other = JobStore(store.shards, store.graph, owner=owner)
    return other


def kill_lease(store: JobStore, owner: str) -> None:
    """What a dead delivery leaves: its lease runs out."""
    store.shards.shards[store.graph.job_shard].client.unlink(store.keys.lease(owner))


def test_a_retry_queues_the_dead_deliveries_pulled_tasks_again(cluster):
    store = queued(cluster, "takeover", 10, "inv.0.aaa")
    try:
        assert pull(store, 3) == [0, 1, 2]
        live = as_owner(store, "other.0.bbb")
        assert pull(live, 2) == [3, 4]
        kill_lease(store, "inv.0.aaa")
        retry = as_owner(store, "third.1.ccc")  # any retry takes over a dead delivery's tasks
        assert sorted(pull(retry, 10, take_over=True)) == [0, 1, 2, 5, 6, 7, 8, 9]
        assert pull(retry, 10, take_over=True) == []  # the live delivery keeps its own
    finally:
        store.cleanup()


def test_a_retry_takes_over_the_delivery_it_replaces_and_no_live_duplicate(cluster):
    """The retry names the delivery it replaces, whose leases end as it claims: its pulled
    tasks come back at once, while a live duplicate of the same invocation keeps its own
    (taken back, they would run twice)."""
    store = queued(cluster, "replaced", 8, "inv.0.aaa")
    try:
        assert pull(store, 2) == [0, 1]
        duplicate = as_owner(store, "inv.0.bbb")
        assert pull(duplicate, 2) == [2, 3]
        retry = as_owner(store, "inv.1.ddd")
        assert pull(retry, 1, take_over=True) == [4], "no lease ended: nothing taken back"
        claim_starts(store.shards, store.graph.job_id, [], retry.owner, "",
                     store.graph.ttl_ms, store.graph.recovery.lease_ms, replaces=[store.owner])
        assert sorted(pull(retry, 2, take_over=True)) == [0, 1]
        assert sorted(pull(retry, 10, take_over=True)) == [5, 6, 7]
        assert pull(store, 10) == []
    finally:
        store.cleanup()


def test_without_take_over_a_pull_leaves_dead_deliveries_tasks_alone(cluster):
    store = queued(cluster, "plain", 4, "inv.0.aaa")
    try:
        assert pull(store, 2) == [0, 1]
        kill_lease(store, "inv.0.aaa")
        assert pull(as_owner(store, "x.0.eee"), 10) == [2, 3]
        assert pull(as_owner(store, "x.0.eee"), 10) == []
    finally:
        store.cleanup()


def tree(prefix: str, leaves: int, leaf) -> tuple[dict, tuple]:
    """Pairwise sums over `leaves` leaves, leaf `i` being `leaf(i)`; the root's key."""
    level = [(prefix + "_leaf", i) for i in range(leaves)]
    dsk: dict = {key: leaf(i) for i, key in enumerate(level)}
    depth = 0
    while len(level) > 1:
        depth += 1
        nxt = [(prefix, depth, i) for i in range(len(level) // 2)]
        dsk.update({key: (add, level[2 * i], level[2 * i + 1]) for i, key in enumerate(nxt)})
        level = nxt
    return dsk, level[0]


def die_once(marker: str, x: int) -> int:
    """SIGKILL its own process the first time it runs (the marker file says it did)."""
    path = pathlib.Path(marker)
    if not path.exists():
        path.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return x + 1


def plus_one(x: int) -> int:
    return x + 1


@pytest.mark.timeout(240)
def test_an_executor_killed_after_it_pulled_loses_no_task(cluster, tmp_path):
    """A cold tree of 512 leaves: the queue holds most leaves, and the one that dies is deep
    in it, so the executor that runs it pulled it. Its retry queues what it pulled again,
    and the job's result is right."""
    marker = str(tmp_path / "died")
    dsk, root = tree("qrkill", 512, lambda i: (die_once, marker, i) if i == 300
                     else (plus_one, i))
    with dask.config.set({"wukong.scheduling.work-queue": True}):
        assert wukong.get(dsk, root) == sum(range(1, 513))
        report = wukong.last_job()
    assert pathlib.Path(marker).exists()
    assert report is not None


def record(path: str, i: int) -> int:
    """A side effect: one line appended to the leaf's own file."""
    with open(path, "a") as f:
        f.write("ran\n")
    return i


@pytest.fixture(scope="module")
def doubled():
    os.environ[ENV_DUPLICATE_DELIVERY] = "1"
    try:
        with wukong.LocalCluster(shards=2) as c:
            yield c
            assert job_keys(c.admin_urls) == [], "a job left keys in Redis"
    finally:
        del os.environ[ENV_DUPLICATE_DELIVERY]


@pytest.mark.timeout(240)
def test_pulled_leaves_run_once_under_duplicate_delivery(doubled, tmp_path):
    """Every invocation delivered twice, 512 cold leaves mostly pulled from the queue: each
    leaf's side effect happens once."""
    dsk, root = tree("qrdup", 512, lambda i: (record, str(tmp_path / f"leaf-{i}"), i))
    with dask.config.set({"wukong.scheduling.work-queue": True}):
        assert doubled.get(dsk, root) == sum(range(512))
    lines = Counter(len(p.read_text().splitlines()) for p in tmp_path.iterdir())
    assert lines == Counter({1: 512})
