"""The benchmark suite must keep running: one tiny pass of it, with no timing asserted."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import runner, tables, workloads

ROOT = Path(__file__).resolve().parents[1]


def test_quick_suite_runs_tree_reduction_on_wukong_and_sync(tmp_path):
    out, markdown = tmp_path / "runs.jsonl", tmp_path / "RESULTS.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--suite", "quick", "--repeat", "1",
         "--systems", "wukong,sync", "--workloads", "TR",
         "--out", str(out), "--markdown", str(markdown)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["system"], r["workload"]) for r in records] == [("wukong", "TR"), ("sync", "TR")]
    assert all(r["verified"] and r["tasks"] == 2047 for r in records)
    assert records[0]["wukong"]["tasks"] > 0 and records[1]["wukong"] is None
    assert "| TR 1,024 leaves | 2,047 |" in markdown.read_text()
    assert markdown.read_text() in done.stdout


def test_a_new_results_file_keeps_the_history_of_the_old(tmp_path):
    from benchmarks.__main__ import kept_history

    old = tmp_path / "RESULTS.md"
    assert kept_history(old) == ""
    old.write_text("# Benchmark results\n\n| old table |\n\n## History\n\n- 2026: a figure\n")
    assert kept_history(old) == "\n## History\n\n- 2026: a figure\n"
    old.write_text("# Benchmark results\n\n| old table |\n")
    assert kept_history(old) == ""


def test_unknown_names_are_refused_by_name():
    with pytest.raises(ValueError, match="GEMMM"):
        workloads.suite("quick", ["GEMMM"])
    with pytest.raises(ValueError, match="paperr"):
        workloads.suite("paperr")


def test_ablation_turns_each_locality_technique_off_in_turn_then_all():
    variants = dict(runner.ablation_variants())
    assert list(variants) == ["all on", "clustering off", "delayed-io off",
                              "inline-inputs off", "grouping off", "all off"]
    assert variants["delayed-io off"] == {"wukong.locality.clustering": True,
                                          "wukong.locality.delayed-io": False,
                                          "wukong.locality.inline-inputs": True,
                                          "wukong.locality.grouping": True}
    assert not any(variants["all off"].values())


def test_tables_give_ratios_to_the_best_distributed_shape():
    def cell(median, system, ablation=None, written=None):
        metrics = None if written is None else {"bytes_written": written}
        return ("GEMM", "small", system, ablation), {
            "median": median, "min": median, "runs": 1, "tasks": 10, "ideal": None,
            "verified": True, "wukong": metrics}

    summary = dict([cell(2.0, "wukong"), cell(4.0, "dist-2x1"), cell(8.0, "dist-1x64"),
                    cell(1.0, "wukong", "all on", 2**20),
                    cell(3.0, "wukong", "all off", 4 * 2**20)])
    assert "2.000 s (0.50x, n=1)" in tables.comparison(summary)
    assert "Wukong 0.50x (<= 1.1x best distributed): met" in tables.targets(summary)
    assert "3.000 s, 4.0 MiB (3.00x time, 4.00x bytes), n=1" in tables.ablation(summary)


WUKONG_SLOTS = 128


def installed(modules: tuple[str, ...]) -> bool:
    return all(importlib.util.find_spec(m.partition(".")[0]) for m in modules)


@pytest.mark.parametrize("suite", ["quick", "paper"])
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

    for workload in workloads.suite(suite):
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
        return sum(1 for _ in runner._measure(plan, runner.System(system, "sync", False), slow,
                                              {}, warm_up=False))

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
