"""Dask's own test modules, shipped inside the installed `dask`, with Wukong as the session's
default scheduler on one cluster: every failure must be a documented divergence.

The modules run in one pytest subprocess (`dask_suite_runner.py`, which also runs them by
hand and gives the baseline with Dask's default scheduler); divergences.yaml lists the tests
that cannot pass out of process, each with its reason, and docs/dask-compatibility.md renders
that list for users.
"""

from __future__ import annotations

import pytest
from conftest import DASK_SUITES_SUMMARY
from dask_suite_divergences import DOCS, Divergence, docs_with_divergences, load_divergences
from dask_suite_runner import (
    MODULES,
    check_under_wukong,
    compare,
    counts_table,
    module_counts,
    report,
)


@pytest.mark.timeout(3600)
def test_dask_suites_under_wukong(tmp_path, request):
    """Failures that Dask's default scheduler has too (a Dask or pandas release's own) are
    shown in the summary and do not count."""
    outcomes, comparison = check_under_wukong(list(MODULES), tmp_path)
    request.config.stash[DASK_SUITES_SUMMARY] = (counts_table(module_counts(outcomes)) + "\n"
                                     + report(comparison))
    assert {node_id.split("::")[0] for node_id in outcomes} == set(MODULES)
    assert comparison.ok, report(comparison)


def test_docs_page_shows_the_divergences():
    docs = DOCS.read_text()
    assert docs_with_divergences(docs, load_divergences()) == docs, (
        "docs/dask-compatibility.md is out of date: run "
        "`.venv/bin/python tests/dask_suites/dask_suite_runner.py --render-docs`")


def test_divergence_ids():
    """`*` matches any characters; everything else, brackets of parametrized ids included,
    only itself. An entry's message must be in the failure's."""
    exact = Divergence("m.py::test_a[x-1]", "t", "why")
    assert exact.explains("m.py::test_a[x-1]", "")
    assert not exact.explains("m.py::test_a[x-2]", "")
    assert not exact.explains("m.py::test_a[x-1]b", "")
    pattern = Divergence("m.py::test_b[disk-*]", "t", "why", message="Refused")
    assert pattern.explains("m.py::test_b[disk-a-b]", "x.Refused: task 'a'")
    assert not pattern.explains("m.py::test_b[disk-a-b]", "AssertionError")
    assert not pattern.explains("m.py::test_b[tasks-a]", "x.Refused: task 'a'")


def test_failures_compared_with_the_list():
    """A failure on the list passes; one not on it, or an entry that no longer fails, does
    not, unless it fails under Dask's default scheduler too; entries for modules that did not
    run are not judged."""
    listed = [Divergence("a.py::test_x", "t", "why"), Divergence("b.py::test_y", "t", "why")]
    outcomes = {"a.py::test_x": {"outcome": "failed", "message": "m", "seconds": 0.1},
                "a.py::test_z": {"outcome": "passed", "message": "", "seconds": 0.1}}
    assert compare(outcomes, listed, ["a.py"]).ok
    outcomes["a.py::test_z"] = {"outcome": "error", "message": "boom", "seconds": 0.1}
    assert compare(outcomes, listed, ["a.py"]).unexpected == {"a.py::test_z": "boom"}
    default = {"a.py::test_z": {"outcome": "failed", "message": "boom", "seconds": 0.1}}
    assert compare(outcomes, listed, ["a.py"], default).upstream == {"a.py::test_z": "boom"}
    assert compare(outcomes, listed, ["a.py"], default).ok
    outcomes["a.py::test_x"]["outcome"] = "passed"
    assert compare(outcomes, listed, ["a.py"]).stale == [listed[0]]
