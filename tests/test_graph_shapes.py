"""Graph shapes the executors must schedule among themselves, each checked against `dask.get`.

The job report (`wukong.last_job()`) also shows *how* a graph ran: chains stay in one executor,
fan-outs become one dependent and invoke the rest, fan-ins meet through Redis.
"""

from __future__ import annotations

from collections import Counter
from operator import add

import dask
import hypothesis.strategies as st
import pytest
import redis
from dask.core import flatten, get_dependencies
from dask.utils_test import inc
from hypothesis import HealthCheck, given, settings

import wukong
from storage_manager import dumps

pytestmark = pytest.mark.usefixtures("fan_ins_in_executors")


def combine(i, *args):
    """A deterministic task whose value depends on its position and all of its inputs."""
    total = i * 7919
    for arg in args:
        total += sum(arg) if isinstance(arg, list) else arg
    return total % 1_000_003


def tree_reduction(leaves: int) -> tuple[dict, tuple]:
    dsk: dict = {("tr", 0, i): i for i in range(leaves)}
    level, width = 0, leaves
    while width > 1:
        for i in range(width // 2):
            dsk["tr", level + 1, i] = (add, ("tr", level, 2 * i), ("tr", level, 2 * i + 1))
        level, width = level + 1, width // 2
    return dsk, ("tr", level, 0)


def test_single_task(cluster):
    """The smallest job: one leaf that is also the result."""
    dsk = {"only": (combine, 1)}
    assert wukong.get(dsk, "only") == dask.get(dsk, "only")
    report = wukong.last_job()
    assert report.num_tasks == 1
    assert [t.key for t in report.tasks] == ["only"]


def test_linear_chain_runs_in_one_executor(cluster):
    """A chain of 1,000 is one static schedule: one executor runs it all and writes only the
    final result to Redis; nothing in between is stored or read back."""
    dsk = {"x0": 0, **{f"x{i}": (inc, f"x{i - 1}") for i in range(1, 1001)}}
    assert wukong.get(dsk, "x1000") == dask.get(dsk, "x1000") == 1000
    report = wukong.last_job()
    assert report.num_tasks == 1000
    assert report.executors_invoked == 1
    assert len(report.tasks) == 1000
    written = {t.key: t.bytes_written for t in report.tasks if t.bytes_written}
    assert written == {"x1000": len(dumps(1000, cluster.signer))}
    assert report.bytes_read == 0


def test_fan_out(cluster):
    """One root, 200 dependents: the root's executor becomes one and invokes one per other."""
    dsk = {"root": (combine, 0), **{("out", i): (combine, i, "root") for i in range(200)}}
    keys = [("out", i) for i in range(200)]
    assert wukong.get(dsk, keys) == dask.get(dsk, keys)
    report = wukong.last_job()
    assert report.num_tasks == 201
    assert report.executors_invoked == 200
    assert Counter(t.key for t in report.tasks) == Counter(list(dsk))


@pytest.mark.usefixtures("one_executor_per_leaf")
def test_fan_in(cluster):
    """200 leaves meet at one task: it runs exactly once, in the executor that completed its
    set of finished parents, which reads the other 199 outputs."""
    dsk = {("in", i): (combine, i) for i in range(200)}
    dsk["sum"] = (sum, [("in", i) for i in range(200)])
    assert wukong.get(dsk, "sum") == dask.get(dsk, "sum")
    report = wukong.last_job()
    assert report.num_tasks == 201
    assert report.executors_invoked == 200
    assert Counter(t.key for t in report.tasks) == Counter(list(dsk))
    tasks = report.tasks
    (final,) = [t for t in tasks if t.key == "sum"]
    (last_leaf,) = [t for t in tasks if t.executor == final.executor and t is not final]
    assert last_leaf.key in dsk


@pytest.mark.usefixtures("one_executor_per_leaf")
def test_fan_in_report_counts_inputs_read(cluster):
    """The executor that claims a fan-in reads the other 199 outputs; the report must say so."""
    dsk = {("in", i): (combine, i) for i in range(200)}
    dsk["sum"] = (sum, [("in", i) for i in range(200)])
    wukong.get(dsk, "sum")
    report = wukong.last_job()
    tasks = report.tasks
    (final,) = [t for t in tasks if t.key == "sum"]
    (last_leaf,) = [t for t in tasks if t.executor == final.executor and t is not final]
    leaves_written = sum(t.bytes_written for t in tasks if t is not final)
    assert report.bytes_read == leaves_written - last_leaf.bytes_written


def test_stacked_diamonds(cluster):
    """Fan-out then fan-in, 50 times over: each bottom must wait for both of its sides."""
    dsk: dict = {"top0": (combine, 0)}
    for i in range(50):
        dsk[f"left{i}"] = (combine, 1, f"top{i}")
        dsk[f"right{i}"] = (combine, 2, f"top{i}")
        dsk[f"top{i + 1}"] = (combine, 3, f"left{i}", f"right{i}")
    keys = ["top50", "left25", ["right49", "top0"]]
    assert wukong.get(dsk, keys) == dask.get(dsk, keys)
    assert Counter(t.key for t in wukong.last_job().tasks) == Counter(list(dsk))


def test_diamond_with_shared_leaf_data(cluster):
    """Both sides of a diamond reading the same value: data nodes are served from the graph."""
    dsk = {"v": 10, "a": (inc, "v"), "b": (add, "v", "v"), "c": (add, "a", "b")}
    assert wukong.get(dsk, ["c", "v"]) == dask.get(dsk, ["c", "v"]) == (31, 10)


@pytest.mark.usefixtures("one_executor_per_leaf")
def test_tree_reduction(cluster):
    """Pairwise add over 1,024 values; the report covers every task exactly once."""
    dsk, root = tree_reduction(1024)
    assert wukong.get(dsk, root) == dask.get(dsk, root) == sum(range(1024))
    report = wukong.last_job()
    tasks = [k for k, v in dsk.items() if isinstance(v, tuple) and callable(v[0])]
    assert report.num_tasks == len(tasks) == 1023
    assert report.executors_invoked == 512, "one executor per leaf task, none at fan-ins"
    assert Counter(t.key for t in report.tasks) == Counter(tasks)
    assert all(t.start <= t.end for t in report.tasks)


@st.composite
def random_dags(draw):
    """Up to 300 tasks; each depends on up to four earlier ones, directly or in a list."""
    n = draw(st.integers(1, 300))
    dsk: dict = {}
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=4, unique=True)) if i else []
        keys = [("n", d) for d in deps]
        if not deps and draw(st.booleans()):
            dsk["n", i] = i
        elif deps and draw(st.booleans()):
            dsk["n", i] = (combine, i, keys)
        else:
            dsk["n", i] = (combine, i, *keys)
    wanted = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=8, unique=True))
    keys = [("n", w) for w in wanted]
    if len(keys) > 2:
        keys = [keys[0], keys[1:]]
    return dsk, keys


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(random_dags())
def test_random_dags(cluster, case):
    """Whatever the shape, the results equal Dask's, and exactly the tasks the keys need ran,
    each once (culling, and no fan-in claimed twice)."""
    dsk, keys = case
    assert wukong.get(dsk, keys) == dask.get(dsk, keys)
    needed, stack = set(), list(flatten(keys))
    while stack:
        key = stack.pop()
        if key not in needed:
            needed.add(key)
            stack += get_dependencies(dsk, key)
    tasks = [k for k in needed if isinstance(dsk[k], tuple)]
    assert Counter(t.key for t in wukong.last_job().tasks) == Counter(tasks)


def redis_bytes_in(urls):
    total = 0
    for url in urls:
        client = redis.Redis.from_url(url)
        total += client.info("stats")["total_net_input_bytes"]
        client.close()
    return total


def fan_in_traffic(cluster, n):
    """Bytes sent to Redis by an n-way fan-in job."""
    dsk = {("in", i): (inc, i) for i in range(n)}
    dsk["sum"] = (sum, list(dsk))
    before = redis_bytes_in(cluster.admin_urls)
    assert wukong.get(dsk, "sum") == dask.get(dsk, "sum")
    return redis_bytes_in(cluster.admin_urls) - before


def test_fan_in_traffic_grows_linearly(cluster):
    """Four times the parents may cost about four times the bytes sent to Redis, not
    sixteen: each parent's mark should not carry all of its siblings' keys."""
    small, large = fan_in_traffic(cluster, 100), fan_in_traffic(cluster, 400)
    assert large / small < 6, f"100-way fan-in: {small:,} B, 400-way: {large:,} B"
