"""The pure parts of `python -m benchmarks.chaos` and its helpers: the summary of chaos jobs,
the targets, the table and the History section; the sleeping tree and its side effects; the
share of sleeping tasks in random DAGs. No cluster, no timing."""

from __future__ import annotations

import dask
import pytest

from benchmarks import chaos, chaos_faults, random_dag
from benchmarks.chaos_faults import Outcome


def outcome(fault: str, injected: bool, result: str, seconds: float = 1.0, keys: int = 0,
            error: str = "") -> Outcome:
    return Outcome(fault, injected, result, error, seconds, keys)


PAIRS = [
    (outcome("kill", True, "correct", 1.5), outcome("none", False, "correct", 1.0)),
    (outcome("kill", True, "correct", 1.3), outcome("none", False, "correct", 1.0)),
    (outcome("kill", True, "correct", 1.9), outcome("none", False, "correct", 1.0)),
    (outcome("shard", True, "failed", 0.2, error="ShardLost: shard gone"),
     outcome("none", False, "correct", 1.0, keys=2)),
    (outcome("cancel", False, "correct", 1.0), outcome("none", False, "wrong", 1.0)),
    (outcome("proxy", True, "hung", 120.0, keys=1), outcome("none", False, "correct", 1.0)),
]


def test_the_summary_counts_faults_that_struck_and_how_jobs_ended():
    s = chaos.summary(PAIRS)
    assert s["jobs"] == 6
    assert s["faults injected"] == {"kill": 3, "shard": 1, "proxy": 1}
    assert s["recovered"] == 3
    assert (s["failed clearly"], s["hung"], s["wrong or unclear"]) == (1, 1, 0)
    assert s["next job wrong"] == 1
    assert s["keys left"] == 3
    assert s["median extra seconds"] == {"kill": pytest.approx(0.5)}
    assert s["errors"] == {"ShardLost": 1}


def test_targets_give_the_ratio_of_medians_and_the_repeats():
    free = [{"seconds": s, "kills": 0, "correct": True, "error": ""} for s in (2.0, 1.0, 3.0)]
    killed = [{"seconds": s, "kills": 4, "correct": True, "error": ""} for s in (3.0, 2.5)]
    doubled = {"seconds": 2.0, "kills": 0, "correct": False, "error": "X: y", "repeats": 0}
    t = chaos.target_summary(free, killed, doubled, tasks=399)
    assert t["ratio"] == pytest.approx(2.75 / 2.0)
    assert t["kills"] == [4, 4] and not t["all correct"] and t["errors"] == ["X: y"]
    assert t["duplicate-delivery repeats"] == 0


def test_the_table_and_its_history_section(tmp_path):
    free = [{"seconds": 1.0, "kills": 0, "correct": True, "error": ""}]
    killed = [{"seconds": 1.2, "kills": 4, "correct": True, "error": ""}]
    doubled = {"seconds": 1.0, "kills": 0, "correct": True, "error": "", "repeats": 0}
    text = chaos.table(chaos.summary(PAIRS), chaos.target_summary(free, killed, doubled, 399))
    assert "| faults injected | kill 3, proxy 1, shard 1 |" in text
    assert "| hung (must be 0) | 1 |" in text
    assert "| ratio (target <= 1.5) | 1.20 |" in text
    assert "kill +0.500" in text
    markdown = tmp_path / "RESULTS.md"
    markdown.write_text("# Results\n\nnow\n\n## History\n\nintro\n\n### older\n\nold\n")
    chaos.write_history(markdown, "python -m benchmarks.chaos --jobs 3", "c.jsonl", text)
    written = markdown.read_text()
    assert written.index("## History") < written.index(": chaos (") < written.index("### older")
    assert "| recovered | 3 |" in written and written.startswith("# Results\n\nnow")


def test_the_sleeping_tree_sums_its_leaves_and_records_each_run(tmp_path):
    dsk, root = chaos_faults.sleeping_tree(8, 0.0, tmp_path)
    assert len(dsk) == 15
    assert dask.get(dsk, root) == 8
    assert chaos_faults.started(tmp_path) == 15 and chaos_faults.repeats(tmp_path) == 0
    dask.get(dsk, "leaf-3")
    assert chaos_faults.repeats(tmp_path) == 1


def test_random_dags_sleep_as_often_as_asked():
    default = random_dag.generate(2_000, seed=7)
    assert random_dag.generate(2_000, seed=7, naps=0.1) == default
    sleepy = random_dag.generate(2_000, seed=7, naps=0.5)
    share = sum(node.kind == "nap" for node in sleepy) / len(sleepy)
    assert 0.4 < share < 0.6
    with pytest.raises(ValueError, match="sleeping tasks"):
        random_dag.generate(10, seed=1, naps=0.95)
