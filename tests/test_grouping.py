"""Grouping of leaves whose large outputs meet: where it must fire and where it must not,
read from the job's events (which executor ran which task, bytes written), with results
equal to Dask's. The graphs are block products `x @ x.T` written out by hand, with task
prefixes of their own, so the output sizes one test teaches the session's cluster never
steer another. Grouping is compared with the paper's one executor per leaf, so the work
queue (see tests/test_work_queue.py) is off here.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import defaultdict

import dask
import numpy as np
import pytest

import wukong
from static_scheduler import (
    Batching,
    PlanSettings,
    build_job_graph,
    group_leaves,
    plan,
    task_prefixes,
    threads_per_group,
    to_task_graph,
)
from static_scheduler.chunk_priors import ChunkPriors, chunk_priors
from static_scheduler.estimates import Estimates
from storage_manager import Locality

MB = 1_000_000
NO_BATCHING = {"wukong.scheduling.batch-cheap-tasks": False,
               "wukong.scheduling.work-queue": False}


def block(i, k, side):
    return np.random.default_rng(10 * i + k).random((side, side))


def times_transposed(a, b):
    return a @ b.T


def total(*blocks):
    return sum(blocks)


def gemm(prefix: str, blocks: int, side: int) -> tuple[dict, list]:
    """`x @ x.T` for `x` in `blocks` x `blocks` square blocks of `side` rows: the leaves are
    `(prefix_x, i, k)`, the products `(prefix_dot, i, j, k)` need leaves (i, k) and (j, k),
    the sums `(prefix_sum, i, j)` add the products over k."""
    leaf, dot, out = f"{prefix}_x", f"{prefix}_dot", f"{prefix}_sum"
    n = range(blocks)
    dsk: dict = {(leaf, i, k): (block, i, k, side) for i in n for k in n}
    dsk.update({(dot, i, j, k): (times_transposed, (leaf, i, k), (leaf, j, k))
                for i in n for j in n for k in n})
    dsk.update({(out, i, j): (total, *[(dot, i, j, k) for k in n]) for i in n for j in n})
    return dsk, [(out, i, j) for i in n for j in n]


def run(dsk, keys, config=None):
    with dask.config.set({**NO_BATCHING, **(config or {})}):
        got = wukong.get(dsk, keys)
    for g, w in zip(got, dask.get(dsk, keys), strict=True):
        np.testing.assert_allclose(g, w)
    return wukong.last_job()


def leaf_executors(report) -> dict[str, set]:
    """The leaves' contraction indices k by the executor that ran them."""
    ran = defaultdict(set)
    for t in report.tasks:
        if t.key[0].endswith("_x"):
            ran[t.executor].add(t.key[2])
    return ran


def test_leaves_whose_large_outputs_meet_start_together(cluster):
    """Products that hold the GIL (so no group shares an executor's cores, however the
    machine's load lets their GIL-free share be measured) group one executor per k."""
    dsk, keys = gemm("meet", 2, 400)  # 1.28 MB blocks: large
    dsk = {key: (python_then_transposed, *rest) if key[0] == "meet_dot" else (f, *rest)
           for key, (f, *rest) in dsk.items()}
    first = run(dsk, keys)
    assert len(leaf_executors(first)) == 4  # sizes unknown: one executor per leaf
    again = run(dsk, keys)
    ran = leaf_executors(again)
    assert sorted(map(sorted, ran.values())) == [[0], [1]]  # one executor per k
    tasks = {t.key: t for t in again.tasks}
    for (name, *index), task in tasks.items():
        if name == "meet_x":
            assert task.bytes_written == 0, "a grouped leaf's block was written"
        if name == "meet_dot":
            assert task.executor == tasks["meet_x", index[0], index[2]].executor
    assert again.bytes_written < first.bytes_written
    off = run(dsk, keys, {"wukong.locality.grouping": False})
    assert len(leaf_executors(off)) == 4


def python_then_transposed(a, b):
    """Holds the GIL for most of its time, as Python code does."""
    until = time.perf_counter() + 0.1
    while time.perf_counter() < until:
        pass
    return a @ b.T


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: nothing to share")
def test_tasks_that_leave_the_gil_free_share_one_executors_cores(cluster):
    """Once BLAS products are known to leave the GIL free, all leaves whose large outputs
    meet start as one group on all the machine's cores, in threads: products run at the
    same time in one executor, and only the results are written. Products that hold the
    GIL keep one group per contraction index, as before."""
    dsk, keys = gemm("shared", 2, 1000)  # 8 MB blocks, ~30 ms products
    run(dsk, keys)
    again = run(dsk, keys)
    assert len({t.executor for t in again.tasks}) == 1
    products = sorted((t.start, t.end) for t in again.tasks if t.key[0] == "shared_dot")
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(products))
    results = sum(t.output_bytes for t in again.tasks if t.key[0] == "shared_sum")
    assert results <= again.bytes_written < results + 4096  # and pickles' headers
    held = {key: (python_then_transposed, *rest) if key[0] == "held_dot" else (f, *rest)
            for key, (f, *rest) in gemm("held", 2, 1000)[0].items()}
    held_keys = [("held_sum", i, j) for i in range(2) for j in range(2)]
    run(held, held_keys)
    assert sorted(map(sorted, leaf_executors(run(held, held_keys)).values())) == [[0], [1]]


def test_small_outputs_are_never_grouped(cluster):
    dsk, keys = gemm("small", 2, 50)  # 20 KB blocks
    run(dsk, keys)
    report = run(dsk, keys)
    assert len(leaf_executors(report)) == 4


# -- the static side, without Redis ------------------------------------------------------------

def job(dsk, keys, **locality):
    return build_job_graph("j", to_task_graph(dsk, keys), keys, 1, 60_000,
                           locality=Locality(**locality))


def contraction_groups(graph, groups) -> list[list[int]]:
    return sorted(sorted({graph.keys[leaf][2] for leaf in group}) for group in groups)


def test_groups_keep_the_parallelism_and_follow_the_contraction_index():
    graph = job(*gemm("static", 4, 1000))
    sizes = [8 * MB] * len(graph)
    assert contraction_groups(graph, group_leaves(graph, sizes, 4)) == [[0], [1], [2], [3]]
    pairs = group_leaves(graph, sizes, 2)  # any two indices each: all pairs meet alike
    assert sorted(k for ks in contraction_groups(graph, pairs) for k in ks) == [0, 1, 2, 3]
    assert [len(group) for group in pairs] == [8, 8]
    assert len(group_leaves(graph, sizes, 1)) == 1
    assert group_leaves(graph, sizes, 16) == []  # as many leaves as can run at once


@pytest.mark.parametrize("prefix_sizes", [{}, {"static_x": 1000, "static_dot": 1000,
                                                "static_sum": 1000}])
def test_unknown_or_small_outputs_group_nothing(prefix_sizes):
    graph = job(*gemm("static", 4, 1000))
    sizes = [prefix_sizes.get(p) for p in task_prefixes(graph.keys)]
    assert group_leaves(graph, sizes, 2) == []


def test_the_switch_turns_grouping_off():
    graph = job(*gemm("static", 4, 1000), grouping=False)
    assert group_leaves(graph, [8 * MB] * len(graph), 2) == []


def test_threads_per_group_needs_the_jobs_time_known_to_leave_the_gil_free():
    graph = job(*gemm("static", 2, 1000))
    prefixes = task_prefixes(graph.keys)
    seconds = {"static_x": 0.002, "static_dot": 0.03, "static_sum": 0.002}
    expected = [seconds[p] for p in prefixes]

    def threads(shares: dict, cores: int = 2, durations=expected) -> int:
        return threads_per_group(graph, durations, [shares.get(p) for p in prefixes], cores)

    blas = {"static_dot": 0.85}  # leaves and sums: too short to measure
    assert threads(blas) == 2
    assert threads(blas, cores=1) == 1
    assert threads({"static_dot": 0.2}) == 1  # holds the GIL
    assert threads({"static_dot": 0.6}) == 2  # holds it 40%: two threads' worth
    assert threads({"static_dot": 0.6}, cores=8) == 2
    assert threads({"static_dot": 0.9}, cores=8) == 8
    assert threads({"static_x": 0.9}) == 1  # most of the time not measured
    assert threads(blas, durations=[None, *expected[1:]]) == 1  # a duration unknown
    unknown = [None] * len(prefixes)
    assert threads_per_group(graph, expected, unknown, 2, unknown=2) == 2  # as the caller says
    assert threads_per_group(graph, expected, unknown, 2, unknown=8) == 2  # at most the cores
    off = job(*gemm("static", 2, 1000), grouping=False)
    assert threads_per_group(off, expected, [blas.get(p) for p in prefixes], 2) == 1


# -- a first run of numpy arrays: what Dask's array layers say -------------------------------

def test_array_layers_give_each_prefix_its_chunk_size_and_chunk_type():
    import dask.array as da

    x = da.ones((400, 300), chunks=(100, 100), dtype="float32")
    y = (x + 1).sum(axis=0)
    priors = chunk_priors(dask.base.collections_to_expr([y]).optimize())
    assert priors.chunk_bytes["ones_like"] == 100 * 100 * 4
    assert {"ones_like", "add"} <= priors.numpy
    assert chunk_priors({"a": 1}) == ChunkPriors()  # a plain dict graph says nothing
    delayed = dask.delayed(sum)([1, 2])
    assert chunk_priors(dask.base.collections_to_expr([delayed])).numpy == frozenset()


def test_a_dataframe_expression_gives_no_priors_and_is_left_alone():
    """Dataframe expressions hold no array layers; asking one for an attribute it lacks
    computes its metadata, which fails for some (a groupby's covariance): never asked."""
    import dask.dataframe as dd
    import pandas as pd

    df = pd.DataFrame(np.random.default_rng(0).random((20, 3)), columns=[0, 1, 2])
    df["key"] = [0] * 10 + [1] * 5 + [2] * 5
    cov = dd.from_pandas(df, npartitions=3).groupby("key").cov()
    assert chunk_priors(dask.base.collections_to_expr([cov]).optimize()) == ChunkPriors()


def first_run_plan(collections, cores: int = 2, **estimates):
    expr = dask.base.collections_to_expr(collections).optimize()
    keys = expr.__dask_keys__()
    settings = PlanSettings(num_shards=1, ttl_ms=60_000,
                            batching=Batching(parallelism=2, executor_cores=cores))
    return plan(to_task_graph(expr, keys), keys, Estimates(**estimates), settings)


def test_a_first_run_of_numpy_arrays_groups_on_chunk_sizes_on_all_cores():
    """Nothing learned: `x @ x.T` of 8 MB numpy chunks starts as one group on both cores,
    as Dask's threaded default would run it, instead of one executor per leaf."""
    import dask.array as da

    x = da.random.default_rng(0).random((4000, 4000), chunks=(1000, 1000))
    job_plan = first_run_plan([x @ x.T])
    assert [(len(s.tasks), s.threads) for s in job_plan.starts] == [(16, 2)]
    one_core = first_run_plan([x @ x.T], cores=1)
    assert all(s.threads == 1 for s in one_core.starts)


def test_what_was_learned_decides_and_a_task_not_of_an_array_keeps_the_priors_out():
    import dask.array as da

    x = da.random.default_rng(0).random((4000, 4000), chunks=(1000, 1000))
    seconds = {"random": 0.003, "chunk_sum": 0.03, "chunk_sum-aggregate": 0.006}
    unmeasured = first_run_plan([x @ x.T], durations=seconds)  # GIL-free shares unknown
    assert [(len(s.tasks), s.threads) for s in unmeasured.starts] == [(16, 2)]
    holds_the_gil = first_run_plan([x @ x.T], durations=seconds,
                                   gil_free={"random": 0.1, "chunk_sum": 0.1,
                                             "chunk_sum-aggregate": 0.1})
    assert all(s.threads == 1 for s in holds_the_gil.starts)
    mixed = first_run_plan([x @ x.T, dask.delayed(sum)([1, 2])])
    assert all(s.threads == 1 for s in mixed.starts)
