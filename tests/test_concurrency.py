"""Jobs submitted at the same time from several threads share one cluster without mixing."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from operator import add, mul

import dask
import redis

import wukong


def run_together(*jobs):
    """Run each `(dsk, keys)` in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        barrier.wait(timeout=30)
        return wukong.get(*job)

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(run, jobs))


def meet(url, me, other, value):
    """Block until the other job's task has arrived too: proof that both jobs run at once."""
    client = redis.Redis.from_url(url)
    try:
        client.rpush(f"test:meet:{other}", 1)
        if client.blpop([f"test:meet:{me}"], timeout=30) is None:
            raise TimeoutError(f"job {me} never met job {other}")
    finally:
        client.close()
    return value


def chain(op, meeting):
    """The same key names in every job, with different functions and values."""
    dsk = {"x": 3, "y": (op, "x", 10), "z": (op, "y", "x"),
           **{("w", i): (op, "z", i) for i in range(20)}}
    dsk["m"] = (meet, *meeting, "z")
    dsk["out"] = (sum, [("w", i) for i in range(20)] + ["m"])
    return dsk


def test_two_jobs_at_once_are_isolated(cluster):
    """Two graphs with the same key names run at the same moment; each gets its own values."""
    url = cluster.admin_urls[0]
    first = chain(add, (url, "first", "second"))
    second = chain(mul, (url, "second", "first"))
    keys = ["out", "z"]
    try:
        got = run_together((first, keys), (second, keys))
    finally:
        client = redis.Redis.from_url(url)
        client.delete("test:meet:first", "test:meet:second")
        client.close()
    sync = [{**dsk, "m": "z"} for dsk in (first, second)]
    assert got == [dask.get(dsk, keys) for dsk in sync]
    assert got[0] != got[1]


def tree(leaves):
    dsk = {("leaf", i): (add, i, 1) for i in range(leaves)}
    level, width = "leaf", leaves
    while width > 1:
        up = f"{level}+"
        for i in range(width // 2):
            dsk[up, i] = (add, (level, 2 * i), (level, 2 * i + 1))
        level, width = up, width // 2
    return dsk, (level, 0)


def test_same_graph_twice_at_once(cluster):
    """The same graph, twice concurrently: two jobs, each with its own keys in Redis."""
    dsk, root = tree(256)
    got = run_together((dsk, root), (dsk, root))
    assert got == [dask.get(dsk, root)] * 2 == [sum(range(1, 257))] * 2


def test_four_jobs_of_different_shapes(cluster):
    """More jobs than cores, of different shapes, all at once."""
    tree_dsk, root = tree(128)
    chain_dsk = {"c0": 0, **{f"c{i}": (add, f"c{i - 1}", i) for i in range(1, 300)}}
    fan = {"r": (add, 1, 1), **{("f", i): (mul, "r", i) for i in range(100)}}
    fan_keys = [("f", i) for i in range(100)]
    diamond = {"a": (add, 1, 2), "b": (mul, "a", 2), "c": (mul, "a", 3), "d": (add, "b", "c")}
    jobs = [(tree_dsk, root), (chain_dsk, "c299"), (fan, fan_keys), (diamond, ["d", "a"])]
    assert run_together(*jobs) == [dask.get(*job) for job in jobs]
