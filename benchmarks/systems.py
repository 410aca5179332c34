"""The systems under test, each a context manager that starts it once and stops it after.

Systems run one at a time: each one's processes are started on entry and gone on exit, so a
system's leftovers never slow the next. Every system computes with `dask.compute(*colls,
scheduler=...)`; only the `scheduler` differs. A system started afresh has learned nothing:
a new Wukong cluster starts its own redis-servers and names a new executor function, which
its learned estimates are found by; a new distributed scheduler has seen no task prefix.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

logger = logging.getLogger(__name__)

NAMES = ("wukong", "sync", "threads", "dist-2x1", "dist-1x64", "ray")
STATELESS = ("sync", "threads")
"""Systems that run in this process and keep nothing from one computation to the next: the
same whether warm or cold."""
DISTRIBUTED_SHAPES = {"dist-2x1": (2, 1), "dist-1x64": (1, 64)}


@dataclass
class System:
    name: str
    scheduler: Any
    warm_up: bool
    """Whether to run each workload once, uncounted, before timing it: systems with worker
    processes or caches to warm. `sync` and `threads` run in this process and keep nothing."""
    slots: int = 1
    """How many tasks it runs at once: how wide a warm-up must be to warm every worker."""
    job_metrics: Callable[[], dict | None] = lambda: None
    learned: Callable[[], int] = lambda: 0
    """How many task prefixes the system keeps estimates for (durations, sizes): 0 when it
    has learned nothing, as at the start of a cold run."""


def available(name: str) -> str | None:
    """None if the system can run here, else why not."""
    if name not in NAMES:
        raise ValueError(f"unknown system {name!r}; choose from {', '.join(NAMES)}")
    if name == "ray" and importlib.util.find_spec("ray") is None:
        return "Ray is not installed (pip install ray, or the `ray` extra)"
    if name.startswith("dist") and importlib.util.find_spec("distributed") is None:
        return "dask.distributed is not installed"
    return None


@contextlib.contextmanager
def started(name: str, preload: Sequence[str] = ()) -> Iterator[System]:
    """Start system `name`, yield it, and stop every process it started. `preload`: modules
    the tasks import, which Wukong's workers start with (`wukong.runtime.preload`); the
    others' long-lived workers import them once, in the warm-up."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    starters = {"wukong": functools.partial(_wukong, preload=preload), "sync": _local,
                "threads": _local, "ray": _ray}
    with starters.get(name, _distributed)(name) as system:
        yield system
    _wait_for_children_to_exit(before)


def _wait_for_children_to_exit(keep: set[int], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [p for p in psutil.Process().children(recursive=True)
                if p.pid not in keep and _lingers(p)]
        if not left:
            return
        time.sleep(0.1)
    logger.warning("processes still running after stopping a system: %s",
                   [(p.pid, " ".join(p.cmdline())[:80]) for p in left])


def _lingers(p: psutil.Process) -> bool:
    """Still running and not multiprocessing's resource tracker (one per process, idle)."""
    try:
        return (p.status() != psutil.STATUS_ZOMBIE
                and not any("resource_tracker" in part for part in p.cmdline()))
    except psutil.NoSuchProcess:
        return False


@contextlib.contextmanager
def _local(name: str) -> Iterator[System]:
    yield System(name, name, warm_up=False)


@contextlib.contextmanager
def _wukong(name: str, preload: Sequence[str]) -> Iterator[System]:
    import wukong

    with wukong.LocalCluster(preload=list(preload) or None) as cluster:
        yield System(name, cluster.get, warm_up=True, slots=cluster.concurrency,
                     job_metrics=_wukong_metrics,
                     learned=functools.partial(_wukong_learned, cluster))


def _wukong_learned(cluster: Any) -> int:
    """Task prefixes with any estimate in the cluster's learned hashes."""
    import dataclasses

    from wukong.measurement.learned import LearnedEstimates

    estimates = LearnedEstimates(cluster.shards.shards[0].client, cluster.function).read()
    return len(set().union(*(getattr(estimates, f.name) for f in dataclasses.fields(estimates))))


def _wukong_metrics() -> dict | None:
    """What the last job's per-task events say; see `JobReport` for how time is split."""
    import wukong

    job = wukong.last_job()
    if job is None:
        return None
    return {
        "tasks": job.num_tasks,
        "executors": job.executors_invoked,
        "tasks_per_executor": job.tasks_per_executor,
        "bytes_written": job.bytes_written,
        "bytes_read": job.bytes_read,
        "round_trips": job.round_trips,
        "invoke_seconds": job.invoke_seconds,
        "storage_seconds": job.storage_seconds,
        "compute_seconds": job.compute_seconds,
        "other_seconds": job.other_seconds,
        "job_seconds": job.wall_seconds,
    }


@contextlib.contextmanager
def _distributed(name: str) -> Iterator[System]:
    from distributed import Client, LocalCluster

    workers, threads = DISTRIBUTED_SHAPES[name]
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                      dashboard_address=":0", scheduler_kwargs={"dashboard": False},
                      silence_logs=logging.ERROR) as cluster, \
            Client(cluster, set_as_default=False) as client:
        yield System(name, client.get, warm_up=True, slots=workers * threads,
                     learned=functools.partial(_distributed_learned, client))


def _distributed_learned(client: Any) -> int:
    """Task prefixes the scheduler has seen: it keeps their durations for good."""
    return client.run_on_scheduler(_prefixes_seen)


def _prefixes_seen(dask_scheduler: Any) -> int:
    return len(dask_scheduler.task_prefixes)


@contextlib.contextmanager
def _ray(name: str) -> Iterator[System]:
    import ray
    from ray.util.dask import ray_dask_get

    ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
             runtime_env={"env_vars": {"PYTHONPATH": _import_path()}})
    try:
        yield System(name, ray_dask_get, warm_up=True,
                     slots=int(ray.cluster_resources().get("CPU", 1)))
    finally:
        ray.shutdown()


def _import_path() -> str:
    """Where `benchmarks` is imported from, so Ray's workers can unpickle its functions."""
    import os

    import benchmarks

    return os.path.dirname(os.path.dirname(os.path.abspath(benchmarks.__file__)))
