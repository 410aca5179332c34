"""Shows the per-module counts of Dask's suites under Wukong at the end of the session."""

from __future__ import annotations

import pytest
from dask_suite_runner import SUMMARY


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    table = config.stash.get(SUMMARY, None)
    if table:
        terminalreporter.write_sep("-", "Dask's own test suites under Wukong")
        terminalreporter.write_line(table)
