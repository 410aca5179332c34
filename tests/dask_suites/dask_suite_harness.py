"""pytest plugin: what Dask's repository adds around its shipped test modules, and a record
of every test's outcome.

Loaded with `-p dask_suite_harness` (this directory on `PYTHONPATH`) by `dask_suite_runner`,
for Wukong and for Dask's default scheduler alike. The installed `dask` package ships its test
modules and `dask/conftest.py`, but not the repository's root conftest, so this plugin does its
part: tests marked `slow` or `array_expr` are skipped unless `--runslow` / `--runarrayexpr`
is given, and Dask's test helpers get assertion rewriting. `--outcomes PATH` writes
`{node id: {"outcome": ..., "message": ..., "seconds": ...}}` as JSON when the session ends:
one outcome per test (passed, failed, error: setup or teardown failed, skipped, xfailed or
xpassed), the first line of its failure, and the seconds its setup, call and teardown took;
a module that cannot be collected is one entry, under its path, with outcome error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.register_assert_rewrite("dask.array.utils", "dask.dataframe.utils", "dask.bag.utils")

_outcomes: dict[str, dict[str, Any]] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dask suites")
    group.addoption("--runslow", action="store_true", help="run tests marked slow")
    group.addoption("--runarrayexpr", action="store_true",
                    help="run only the tests for array-expr")
    group.addoption("--outcomes", metavar="PATH", help="write each test's outcome here (JSON)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "slow" in item.keywords and not item.config.getoption("--runslow"):
        pytest.skip("need --runslow option to run")
    array_expr = item.config.getoption("--runarrayexpr")
    if "array_expr" in item.keywords and not array_expr:
        pytest.skip("need --runarrayexpr option to run")
    if array_expr and not item.keywords.keys() & {"array_expr", "normal_and_array_expr"}:
        pytest.skip("only array-expr tests are being run")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    record = _outcomes.setdefault(report.nodeid, {"outcome": "", "message": "", "seconds": 0.0})
    record["seconds"] += report.duration
    outcome = _outcome(report)
    if outcome is None or record["outcome"] in ("failed", "error"):
        return
    record["outcome"] = outcome
    if report.failed and report.longrepr is not None:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(report.longrepr)
        record["message"] = message.splitlines()[0] if message else ""


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if report.failed:
        message = str(report.longrepr).strip().splitlines()
        _outcomes[report.nodeid] = {"outcome": "error", "seconds": 0.0,
                                    "message": message[-1] if message else ""}


def _outcome(report: pytest.TestReport) -> str | None:
    """The outcome this phase's report decides, or None if it leaves it to another phase."""
    xfail = hasattr(report, "wasxfail")
    if report.outcome == "rerun":
        return None
    if report.when == "call":
        if report.passed:
            return "xpassed" if xfail else "passed"
        if report.skipped:
            return "xfailed" if xfail else "skipped"
        return "failed"
    if report.failed:
        return "error"
    if report.when == "setup" and report.skipped:
        return "xfailed" if xfail else "skipped"
    return None


def pytest_sessionfinish(session: pytest.Session) -> None:
    path: Any = session.config.getoption("--outcomes")
    if path:
        Path(path).write_text(json.dumps(_outcomes, indent=1, sort_keys=True))
