"""The locality techniques, each where it must fire and where it must not, read from the
job's events (which executor ran which task, bytes written), with results equal to Dask's.

Large values here are numpy arrays over `wukong.locality.large-object-bytes` (1 MiB).
"""

from __future__ import annotations

import time
from collections import defaultdict

import dask
import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import wukong

MB = 1_000_000
# Where each technique fires depends on which executor runs what: the paper's schedule.
pytestmark = pytest.mark.usefixtures("one_executor_per_leaf", "fan_ins_in_executors")
OFF = {"wukong.locality.clustering": False, "wukong.locality.delayed-io": False,
       "wukong.locality.inline-inputs": False}


def make(n, value=1.0, sleep=0.0):
    """An array of `n` float64s; `sleep` first, so one parent finishes after another."""
    time.sleep(sleep)
    return np.full(n, value)


def plus(*arrays):
    return sum(float(np.sum(a)) for a in arrays)


def scale(a, k):
    return a * k


def run(dsk, keys, config=None):
    """Wukong's result (checked against Dask's) and the job's report."""
    with dask.config.set(config or {}):
        got = wukong.get(dsk, keys)
    want = dask.get(dsk, keys)
    np.testing.assert_equal(got, want)
    return wukong.last_job()


def by_key(report):
    (tasks,) = [{t.key: t for t in report.tasks}]
    return tasks


def executors(report):
    """The keys each executor ran."""
    ran = defaultdict(set)
    for t in report.tasks:
        ran[t.executor].add(t.key)
    return list(ran.values())


FAN_OUT = {"root": (make, 500_000), **{f"d{i}": (scale, "root", i) for i in range(3)},
           "total": (plus, "d0", "d1", "d2")}


def test_clustering_runs_a_large_outputs_dependents_here(cluster):
    """A 4 MB root with three dependents: all run in the root's executor (and so does the
    fan-in after them); the root is never written."""
    report = run(FAN_OUT, "total")
    assert executors(report) == [set(FAN_OUT)]
    assert by_key(report)["root"].bytes_written == 0
    assert report.bytes_read == 0


def test_clustering_switched_off_ships_the_large_output(cluster):
    """Without clustering, the root becomes one dependent and invokes the other two, which
    read the root's output from Redis."""
    report = run(FAN_OUT, "total", {"wukong.locality.clustering": False})
    assert report.executors_invoked == 3
    assert by_key(report)["root"].bytes_written > 4 * MB
    assert report.bytes_read > 2 * 4 * MB


def test_clustering_does_not_fire_for_small_outputs(cluster):
    """A small root fans out as usual: one executor per dependent."""
    dsk = {"root": (make, 10), **{f"d{i}": (scale, "root", i) for i in range(3)},
           "total": (plus, "d0", "d1", "d2")}
    assert run(dsk, "total").executors_invoked == 3


def grow(seed, n, value, sleep):
    return make(n, value + float(seed[0]), sleep)


def two_parents(first_sleep, second_sleep, second_n=500_000):
    """Two parents of one fan-in, started together by one small task (so however late an
    executor starts, the sleeps decide which parent finishes first)."""
    return {"s": (make, 10, 0.0), "p1": (grow, "s", 500_000, 1.0, first_sleep),
            "p2": (grow, "s", second_n, 2.0, second_sleep), "f": (plus, "p1", "p2")}


def test_delayed_io_meets_in_one_executor(cluster):
    """Two large parents in two executors, finishing 300 ms apart: the first holds its
    output at the fan-in, the second (refused as a holder) writes and marks, and the first
    claims the fan-in: it runs beside the held output, which is never written."""
    report = run(two_parents(0.0, 0.3), "f", {"wukong.locality.delay-seconds": 30})
    tasks = by_key(report)
    (holder,) = [p for p in ("p1", "p2") if tasks[p].executor == tasks["f"].executor]
    (other,) = {"p1", "p2"} - {holder}
    assert tasks[holder].bytes_written == 0
    assert tasks[other].bytes_written > 4 * MB
    assert tasks["f"].bytes_read == tasks[other].bytes_written


def test_delayed_io_meets_without_any_large_write(cluster):
    """Clustering puts both large parents in one executor; the first holds while the
    second (300 ms later) runs, and the second's claim-if-last mark, carrying the held
    one, completes the fan-in: neither large output is ever written."""
    dsk = {"seed": (make, 200_000), "a": (scale, "seed", 2),
           "b": (lambda s: make(len(s), 3.0, 0.3), "seed"), "f": (plus, "a", "b")}
    report = run(dsk, "f")
    assert executors(report) == [set(dsk)]
    assert report.bytes_written == by_key(report)["f"].bytes_written < 1000
    off = run(dsk, "f", {"wukong.locality.delayed-io": False})
    assert by_key(off)["a"].bytes_written > MB, "without delayed I/O the first is written"


def test_delayed_io_gives_up_in_time(cluster):
    """The other parent is small and finishes long after the hold ends: the holder writes
    then marks, and the fan-in still runs exactly once with the right inputs."""
    report = run(two_parents(0.0, 1.0, second_n=10), "f",
                 {"wukong.locality.delay-seconds": 0.1})
    tasks = by_key(report)
    assert tasks["p1"].bytes_written > 4 * MB
    assert len([t for t in report.tasks if t.key == "f"]) == 1


def test_delayed_io_switched_off_writes_at_once(cluster):
    report = run(two_parents(0.0, 0.3), "f", {"wukong.locality.delayed-io": False})
    tasks = by_key(report)
    assert tasks["p1"].bytes_written > 4 * MB and tasks["p2"].bytes_written > 4 * MB


def test_large_parents_at_two_fan_ins_never_deadlock(cluster):
    """Two large parents meeting at two fan-ins: at most one holds at each, so both
    fan-ins run, whatever the order."""
    dsk = {"p1": (make, 500_000, 1.0), "p2": (make, 500_000, 2.0, 0.05),
           "f1": (plus, "p1", "p2"), "f2": (plus, "p2", "p1"), "out": (plus, "f1", "f2")}
    report = run(dsk, "out", {"wukong.locality.delay-seconds": 30})
    assert sorted(t.key for t in report.tasks) == sorted(dsk)


def test_small_inputs_travel_inline(cluster):
    """A small root fanning out to three: its output goes in the payloads, so it is never
    written and nobody reads Redis."""
    dsk = {"root": (make, 10), **{f"d{i}": (scale, "root", i) for i in range(3)}}
    keys = [f"d{i}" for i in range(3)]
    report = run(dsk, keys)
    assert report.executors_invoked == 3
    assert by_key(report)["root"].bytes_written == 0
    assert report.bytes_read == 0


@pytest.mark.parametrize("config", [{"wukong.locality.inline-inputs": False},
                                    {"wukong.locality.inline-bytes": 100}])
def test_inputs_not_inlined_when_off_or_too_large(cluster, config):
    dsk = {"root": (make, 1000), **{f"d{i}": (scale, "root", i) for i in range(3)}}
    keys = [f"d{i}" for i in range(3)]
    report = run(dsk, keys, config)
    assert by_key(report)["root"].bytes_written > 8000
    assert report.bytes_read >= 2 * 8000


def test_all_techniques_off_still_correct(cluster):
    dsk = {**FAN_OUT, **two_parents(0.0, 0.1), "out": (plus, "total", "f")}
    report = run(dsk, "out", OFF)
    assert by_key(report)["root"].bytes_written > 4 * MB


def test_chain_of_large_arrays_writes_only_the_result(cluster):
    """50 tasks, each making a 50 MB array from the last: one executor, one write."""
    dsk = {"c0": (make, 6_250_000), **{f"c{i}": (scale, f"c{i - 1}", 1) for i in range(1, 50)},
           "out": (np.sum, "c49")}
    report = run(dsk, "out")
    assert report.executors_invoked == 1
    assert {t.key for t in report.tasks if t.bytes_written} == {"out"}


def test_settings_travel_with_the_job(cluster):
    """`dask.config.set` around one compute changes that job only."""
    with dask.config.set({"wukong.locality.clustering": False}):
        off = run(FAN_OUT, "total")
    on = run(FAN_OUT, "total")
    assert off.executors_invoked == 3 and on.executors_invoked == 1


def test_bad_setting_is_named(cluster):
    with dask.config.set({"wukong.storage.chunk-bytes": 0}), \
            pytest.raises(ValueError, match=r"wukong\.storage\.chunk-bytes"):
        wukong.get(FAN_OUT, "total")


def test_default_shard_count_follows_the_machine():
    from wukong.cluster import shard_count

    assert 1 <= shard_count("auto") <= 4
    assert shard_count(3) == shard_count("3") == 3
    for bad in (0, "many"):
        with pytest.raises(ValueError, match=r"wukong\.redis\.shards"):
            shard_count(bad)


def test_claim_if_last_and_one_holder_per_fan_in(cluster):
    """The primitive under delayed I/O: a tentative mark changes nothing unless it completes
    the set; the first tentative parent may hold, a second is refused (so it writes and
    marks), and the holder's re-check then claims."""
    from static_scheduler import build_job_graph, to_task_graph
    from storage_manager import JobStore, dumps

    dsk = {"p0": (make, 1), "p1": (make, 2), "j": (plus, "p0", "p1")}
    graph = build_job_graph("holdtest", to_task_graph(dsk, ["j"]), ["j"], len(cluster.shards),
                            60_000)
    JobStore(cluster.shards, graph).upload(dumps(graph))
    a, b = (JobStore(cluster.shards, graph, owner=o) for o in "AB")
    p0, p1, j = (graph.keys.index(k) for k in ("p0", "p1", "j"))

    def mark(store, **kwargs):
        publish = store.publish()
        publish.mark(j, **kwargs)
        (result,) = publish.execute()
        return result

    assert mark(a, tentative=[p0]) == (j, False, {}, False), "changes nothing"
    assert mark(a, tentative=[p0], hold=True).holding
    assert not mark(b, tentative=[p1], hold=True).holding, "one holder per fan-in"
    publish = b.publish()
    publish.write_output(p1, dumps(2))
    publish.mark(j, firm=[p1])
    assert not publish.execute()[0].claimed
    claim = mark(a, tentative=[p0])
    assert claim.claimed and claim.inputs == {p1: dumps(2)}
    assert not mark(b, firm=[p1]).claimed, "the claim has its owner"
    JobStore(cluster.shards, graph).cleanup()


def mixed(i, large, *arrays):
    """A large or small array whose values depend on its position and its inputs."""
    total = i + sum(float(a[0]) for a in arrays)
    return np.full(200_000 if large else 4, total % 1_000_003)


@st.composite
def mixed_dags(draw):
    """Up to 30 tasks mixing large and small outputs, each with up to three parents."""
    n = draw(st.integers(2, 30))
    dsk = {}
    for i in range(n):
        deps = draw(st.lists(st.integers(0, i - 1), max_size=3, unique=True)) if i else []
        dsk[f"m{i}"] = (mixed, i, draw(st.booleans()), *(f"m{d}" for d in deps))
    wanted = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=3, unique=True))
    return dsk, [f"m{w}" for w in wanted]


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mixed_dags(), st.sampled_from([{}, OFF, {"wukong.locality.delay-seconds": 0.02}]))
def test_mixed_sizes_any_shape(cluster, case, config):
    """Clustering, holds and inline inputs together: results equal Dask's and every task
    runs exactly once (no fan-in claimed twice, none lost while held)."""
    dsk, keys = case
    report = run(dsk, keys, config)
    assert sorted(t.key for t in report.tasks) == sorted(report.task_keys)


def slow_scale(a, k, seconds):
    time.sleep(seconds)
    return a * k


def scale_and_signal(a, k, flag):
    """`scale`, then create `flag`: another executor can wait until this task has run."""
    flag.touch()
    return a * k


def slow_scale_after(a, k, seconds, flag):
    """`slow_scale`, started only once `flag` exists."""
    while not flag.exists():
        time.sleep(0.01)
    return slow_scale(a, k, seconds)


def test_a_hold_ends_on_time_while_the_executor_is_busy(cluster, tmp_path):
    """The holder keeps running a long clustered chain; its hold still ends at the
    deadline (written, then marked), so the slow other parent completes the fan-in and
    runs it, long before the chain is done. The other parent starts its 2 s only once the
    held task has run, so it cannot finish first however late an executor starts."""
    flag = tmp_path / "a-ran"
    dsk = {"s": (make, 10), "root": (np.tile, "s", 20_000),
           "a": (scale_and_signal, "root", 2, flag),
           "p2": (slow_scale_after, "s", 1, 2.0, flag), "f": (plus, "a", "p2"),
           **{f"b{i}": (slow_scale, "root" if i == 0 else f"b{i - 1}", 1, 0.75)
              for i in range(4)}}
    report = run(dsk, ["f", "b3"], {"wukong.locality.delay-seconds": 0.1})
    tasks = by_key(report)
    assert tasks["a"].executor == tasks["b3"].executor
    assert tasks["a"].bytes_written > MB
    assert tasks["f"].executor == tasks["p2"].executor
