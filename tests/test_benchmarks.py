"""The benchmark suite must keep running: tiny passes of it, with no timing asserted."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dask
import pytest

from benchmarks import random_dag, runner, shapes, suites, systems, tables, workloads

ROOT = Path(__file__).resolve().parents[1]


def test_quick_suite_runs_tree_reduction_on_wukong_warm_and_cold_and_sync(tmp_path):
    out, markdown = tmp_path / "runs.jsonl", tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--suite", "quick", "--repeat", "1",
         "--systems", "wukong,sync", "--workloads", "TR", "--modes", "cold,warm",
         "--out", str(out), "--markdown", str(markdown)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["system"], r["mode"], r["workload"]) for r in records] == [
        ("sync", None, "TR"), ("wukong", "warm", "TR"), ("wukong", "cold", "TR")]
    assert all(r["verified"] and r["tasks"] == 2047 for r in records)
    assert records[0]["wukong"] is None and records[1]["wukong"]["tasks"] > 0
    text = markdown.read_text()
    for heading in ("## Wall time, warm", "## Wall time, cold"):
        table = text.split(heading)[1].split("\n## ")[0]
        assert "| TR 1,024 leaves | 2,047 | — |" in table and "x sync, n=1)" in table
    assert text in done.stdout


def test_a_new_results_file_keeps_the_history_of_the_old(tmp_path):
    from benchmarks.__main__ import kept_history

    old = tmp_path / "RESULTS.md"
    assert kept_history(old) == ""
    old.write_text("# Benchmark results\n\n| old table |\n\n## History\n\n- 2026: a figure\n")
    assert kept_history(old) == "\n## History\n\n- 2026: a figure\n"
    old.write_text("# Benchmark results\n\n| old table |\n")
    assert kept_history(old) == ""


def test_unknown_names_are_refused_by_name(capsys):
    with pytest.raises(ValueError, match="GEMMM"):
        suites.suite("quick", ["GEMMM"])
    with pytest.raises(ValueError, match="paperr"):
        suites.suite("paperr")
    from benchmarks.__main__ import parse

    with pytest.raises(SystemExit):
        parse(["--modes", "warm,tepid"])
    assert "unknown mode 'tepid'" in capsys.readouterr().err


def test_ablation_turns_each_locality_technique_off_in_turn_then_all():
    variants = dict(runner.ablation_variants())
    assert list(variants) == ["all on", "clustering off", "delayed-io off",
                              "inline-inputs off", "grouping off", "all off"]
    assert variants["delayed-io off"] == {"wukong.locality.clustering": True,
                                          "wukong.locality.delayed-io": False,
                                          "wukong.locality.inline-inputs": True,
                                          "wukong.locality.grouping": True}
    assert not any(variants["all off"].values())


def summary_cell(median, system, mode="warm", ablation=None, written=None, workload="GEMM",
                 variant="small", tasks=10, ideal=None, work=None):
    metrics = None if written is None else {"bytes_written": written}
    return (workload, variant, system, mode, ablation), {
        "median": median, "min": median, "runs": 1, "tasks": tasks, "ideal": ideal,
        "work": work, "verified": True, "wukong": metrics}


def test_tables_give_ratios_to_the_best_distributed_shape_and_sync_in_each_mode():
    summary = dict([summary_cell(2.0, "wukong"), summary_cell(4.0, "dist-2x1"),
                    summary_cell(8.0, "dist-1x64"), summary_cell(5.0, "sync", mode=None),
                    summary_cell(5.5, "wukong", "cold"), summary_cell(5.0, "dist-2x1", "cold"),
                    summary_cell(1.0, "wukong", "warm", "all on", 2**20),
                    summary_cell(3.0, "wukong", "warm", "all off", 4 * 2**20)])
    assert tables.modes(summary) == ["warm", "cold"]
    warm, cold = tables.comparison(summary, "warm"), tables.comparison(summary, "cold")
    assert "2.000 s (0.50x dist, 0.40x sync, n=1)" in warm
    assert "5.500 s (1.10x dist, 1.10x sync, n=1)" in cold and "dist-1x64" not in cold
    assert "5.000 s (1.25x dist, 1.00x sync, n=1)" in warm  # sync's one cell, in both
    assert "5.000 s (1.00x dist, 1.00x sync, n=1)" in cold
    lines = tables.targets(summary).splitlines()
    assert "- GEMM small, warm: Wukong 0.50x (<= 1x dist): met" in lines
    assert "- GEMM small, cold: Wukong 1.10x (<= 1.1x dist): met" in lines
    assert "3.000 s, 4.0 MiB (3.00x time, 4.00x bytes), n=1" in tables.ablation(summary)


def test_targets_of_waiting_trees_and_cold_first_runs():
    tr_delay, tr = "256 leaves, 50 ms adds in the top 3 levels", "8,192 leaves"
    summary = dict([
        summary_cell(0.2, "wukong", "warm", workload="TR-delay", variant=tr_delay, ideal=0.15),
        summary_cell(0.3, "wukong", "cold", workload="TR-delay", variant=tr_delay, ideal=0.15),
        summary_cell(3.0, "wukong", "cold", workload="TR", variant=tr),
        summary_cell(2.5, "sync", None, workload="TR", variant=tr)])
    lines = tables.targets(summary).splitlines()
    assert f"- TR-delay {tr_delay}, warm: Wukong 1.33x (<= 1.2x ideal): MISSED" in lines
    assert f"- TR-delay {tr_delay}, cold: Wukong 2.00x (<= 1.2x ideal): MISSED" in lines
    assert f"- TR {tr}, cold: Wukong 1.20x (<= 1.5x sync): met" in lines
    assert not any("1,024" in line for line in lines)


def test_overhead_table_gives_microseconds_per_task_beyond_the_tasks_own_work():
    def overhead(median, system, mode):
        return summary_cell(median, system, mode, workload="overhead", variant="chain",
                            tasks=100_000, work=0.1)

    summary = dict([overhead(1.1, "wukong", "warm"), overhead(3.1, "wukong", "cold"),
                    overhead(2.1, "sync", None), summary_cell(0.5, "wukong")])
    header, _, row, *others = tables.overhead(summary).splitlines()
    assert header == "| workload | tasks | own work | wukong warm | wukong cold | sync |"
    assert row == ("| overhead chain | 100,000 | 0.100 s | 10.0 µs (0.50x sync) | "
                   "30.0 µs (1.50x sync) | 20.0 µs |")
    assert others == []  # GEMM's own work was not measured: no overhead row


WUKONG_SLOTS = 128


def installed(modules: tuple[str, ...]) -> bool:
    return all(importlib.util.find_spec(m.partition(".")[0]) for m in modules)


@pytest.mark.parametrize("suite", ["quick", "paper", "shapes"])
def test_a_smaller_warm_up_runs_the_same_tasks(suite):
    """A warm-up teaches schedulers task durations, so a smaller one may only drop tasks, never
    shrink them or leave a kind out: TR-delay's is its first level, every add sleeping as
    long; the others have every task name of the run, on chunks of the same size."""
    import dask.array as da
    from dask.base import collections_to_expr
    from dask.utils import key_split

    def graph(colls):
        return collections_to_expr(list(colls), optimize_graph=True).__dask_graph__()

    def names(colls):
        # The last word only: Dask's optimizer names a fused getitem `svd-getitem` or
        # `getitem` depending on the process's hash order.
        return {key_split(key).rsplit("-", 1)[-1] for key in graph(colls)}

    def chunk_size(coll):
        return coll.chunksize if isinstance(coll, da.Array) else None

    for workload in suites.suite(suite):
        if workload.warm_up is None or not installed(workload.worker_imports):
            continue  # SVC needs the `bench` extra (scikit-learn, dask-ml)
        warm, full = workload.warm_up(WUKONG_SLOTS), workload.build()
        assert len(graph(warm)) <= len(graph(full)), workload.label
        if workload.name == "TR-delay":
            adds = sum(key_split(k) == "delayed_add" for k in graph(warm))
            assert adds == WUKONG_SLOTS and "delayed_add" in names(full)
            narrow = graph(workload.warm_up(2))
            assert sum(key_split(k) == "delayed_add" for k in narrow) == 2, "as wide as slots"
            continue
        assert names(full) <= names(warm), workload.label
        assert [chunk_size(c) for c in warm] == [chunk_size(c) for c in full], workload.label


def test_the_budget_leaves_compared_systems_five_runs_and_others_one():
    """A cell stops before a run that would pass the budget, but the targets' ratios (Wukong
    against the Dask distributed shapes that could be the best) never rest on one run."""
    from dask import delayed

    slow = workloads.Workload("TR", "one 20 ms task",
                              lambda: (delayed(time_sleep)(0.02),), warm_up=None)
    plan = runner.Plan("quick", [slow], [], repeat=6, budget=0.008)

    def runs(system: str) -> int:
        same = lambda: contextlib.nullcontext(runner.System(system, "sync", False))  # noqa: E731
        return sum(1 for _ in runner._measure(plan, system, None, slow, {}, same, False))

    assert {s: runs(s) for s in ("wukong", "dist-2x1", "sync", "threads")} == {
        "wukong": 5, "dist-2x1": 1, "sync": 1, "threads": 1}  # a run is over twice the budget
    plan.budget = 0.05
    assert {s: runs(s) for s in ("wukong", "dist-2x1")} == {"wukong": 5, "dist-2x1": 5}
    plan.budget = 0
    assert runs("sync") == 6


def time_sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_shard_spread_reports_every_shards_bytes(capsys):
    from benchmarks import shard_spread

    assert shard_spread.main(["--shards", "2", "--workloads", "TR", "--repeat", "1"]) == 0
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.startswith("| TR 1,024 leaves | 1 |")
    per_shard = row.split("|")[3].split(",")
    assert len(per_shard) == 2 and sum(float(mib) for mib in per_shard) > 0  # the graph, at least


TINY_SHAPES = [
    workloads.tr_workload(64), shapes.tr_delay_variant(16, "top"),
    shapes.tr_delay_variant(16, "mixed"), shapes.map_reduce_workload(50),
    shapes.chain_workload(50), shapes.random_dag_workload(60),
    shapes.shuffle_workload(2_000, 4),
    *(shapes.overhead_workload(shape, 40) for shape in shapes.OVERHEAD_SHAPES),
]


def test_every_shape_runs_on_wukong_and_sync_and_verifies():
    """The shapes suite's families at tiny sizes: each builds, runs on both and gives the
    sync scheduler's result."""
    assert {w.name for w in TINY_SHAPES} == {w.name for w in suites.suite("shapes")}
    plan = runner.Plan("test", TINY_SHAPES, ["wukong", "sync"], repeat=1, modes=("warm",))
    records = runner.run(plan, io.StringIO())
    assert [r.get("error") for r in records if "error" in r] == []
    ran = {(r["system"], r["workload"], r["variant"]) for r in records if r["verified"]}
    assert ran == {(s, w.name, w.variant) for s in ("wukong", "sync") for w in TINY_SHAPES}
    summary = runner.summarize(records)
    assert "| overhead 40 tasks, chain | 40 |" in tables.overhead(summary)


def test_chains_and_trees_of_count_tasks_compute_their_own_size():
    for build in (shapes.chain, shapes.tree):
        assert dask.compute(*build(37), scheduler="sync") == (37,)
    assert dask.compute(*shapes.independent(5), scheduler="sync") == ([1] * 5,)


def test_waiting_trees_ideal_is_their_longest_chain_of_sleeps():
    top, mixed = shapes.tr_delay_variant(256, "top"), shapes.tr_delay_variant(256, "mixed")
    assert top.ideal_seconds == pytest.approx(3 * workloads.TR_DELAY_SECONDS)
    assert mixed.ideal_seconds == pytest.approx(8 * workloads.TR_DELAY_SECONDS)
    assert shapes.tree_critical_path(256, lambda level, _: level == 2) == pytest.approx(
        workloads.TR_DELAY_SECONDS)
    from dask.base import collections_to_expr
    from dask.utils import key_split

    graph = collections_to_expr(list(top.build()), optimize_graph=True).__dask_graph__()
    assert sum(key_split(k) == "delayed_add" for k in graph) == 7  # 4 + 2 + 1


def test_random_dags_are_fixed_by_their_seed_and_mix_costs_and_fans():
    nodes = random_dag.generate(2_000, seed=7)
    assert nodes == random_dag.generate(2_000, seed=7) != random_dag.generate(2_000, seed=8)
    assert all(i < index for index, node in enumerate(nodes) for i in node.inputs)
    readers = [0] * len(nodes)
    for node in nodes:
        for i in node.inputs:
            readers[i] += 1
    assert min(readers[:-1]) >= 1, "every node but the output is read"
    assert max(readers) > 1 and max(len(node.inputs) for node in nodes) > 4
    assert {node.kind for node in nodes} == {"tiny", "spin", "nap"}
    cpu = sum(node.seconds for node in nodes if node.kind == "spin")
    critical_path = random_dag.ideal_seconds(nodes, cores=10**9)
    assert critical_path >= max(node.seconds for node in nodes)
    assert random_dag.ideal_seconds(nodes, cores=1) == pytest.approx(max(cpu, critical_path))
    with pytest.raises(ValueError, match="at least 2 tasks, not 1"):
        random_dag.generate(1, seed=7)


def test_cold_runs_start_afresh_with_nothing_learned():
    """Wukong and distributed: every cold run starts on a new system that has learned no
    task prefix, where the warm runs start on one that has."""
    tree = workloads.tr_workload(32)
    plan = runner.Plan("test", [tree], ["wukong", "dist-2x1"], repeat=2, modes=("warm", "cold"))
    records = runner.run(plan, io.StringIO())
    learned: dict[tuple[str, str], list[int]] = {}
    for r in records:
        assert r["verified"], r
        learned.setdefault((r["system"], r["mode"]), []).append(r["learned_prefixes"])
    assert learned[("wukong", "cold")] == [0, 0] == learned[("dist-2x1", "cold")]
    assert min(learned[("wukong", "warm")] + learned[("dist-2x1", "warm")]) > 0


def test_a_cold_run_on_a_system_that_has_learned_is_refused():
    tree = workloads.tr_workload(32)
    plan = runner.Plan("test", [tree], ["wukong"], repeat=1)
    with systems.started("wukong") as system:
        assert system.learned() == 0
        dask.compute(*tree.build(), scheduler=system.scheduler)
        same = lambda: contextlib.nullcontext(system)  # noqa: E731
        [record] = runner._measure(plan, "wukong", "cold", tree, {}, same, False)
    assert record["error"].startswith("ColdStartError: wukong started a cold run having learned")


def test_results_are_checked_against_the_sync_schedulers():
    """Without `sync` among the systems, the runner computes its result to compare with: a
    task that reports the process it ran in differs on Wukong's workers."""
    from dask import delayed

    where = workloads.Workload("TR", "process id", lambda: (delayed(os.getpid)(),),
                               compare=lambda got, want: got == want)
    plan = runner.Plan("test", [where], ["wukong"], repeat=1, modes=("warm",))
    [record] = runner.run(plan, io.StringIO())
    assert record["verified"] is False and plan.references[where.label] == (os.getpid(),)
