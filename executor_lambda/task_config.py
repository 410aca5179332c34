"""The client's `dask.config` in force around a job's tasks in an executor.

Executors are long-lived processes, serving job after job, so a job's settings (carried in
its graph and seeds, see `JobGraph.config`) are set around its tasks and restored after. A
compute inside a task runs with Dask's synchronous scheduler: the caller's scheduler does
not travel (it may be Wukong itself, which would start a cluster inside the executor), and
the executor's cores are already its tasks'.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import dask

NESTED_SCHEDULER = "sync"


@contextmanager
def job_config(settings: Mapping[str, Any]) -> Iterator[None]:
    """`settings` (dotted keys) in force in this process while the block runs."""
    with dask.config.set({**settings, "scheduler": NESTED_SCHEDULER}):
        yield
