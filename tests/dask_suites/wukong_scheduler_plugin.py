"""pytest plugin: Wukong is the session's default scheduler, on one LocalCluster.

Loaded with `-p wukong_scheduler_plugin` (this directory on `PYTHONPATH`) by
`dask_suite_runner`, after `dask_suite_harness`. From the session's start to its end,
`dask.config` names `scheduler="wukong"` and one `wukong.LocalCluster` is the current cluster,
so every compute a test leaves to the default scheduler runs on it; tests that name a
scheduler (`scheduler="sync"`, a distributed `Client`) keep theirs. Settings under `wukong.*`
come from the environment (`DASK_WUKONG__...`) as usual.
"""

from __future__ import annotations

import contextlib

import dask
import pytest

import wukong

_session = contextlib.ExitStack()


def pytest_sessionstart(session: pytest.Session) -> None:
    _session.enter_context(wukong.LocalCluster())
    _session.enter_context(dask.config.set(scheduler="wukong"))


def pytest_sessionfinish(session: pytest.Session) -> None:
    _session.close()


def pytest_report_header() -> str:
    return "scheduler: wukong, on one LocalCluster for the session"
