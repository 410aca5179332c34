"""Run workloads on systems, one JSON record per timed run.

Timing is the same for every system: the collections are built outside the timer (fresh for
each run, so no system profits from another's cached optimizations), and the clock runs from
the `dask.compute(...)` call to its return, so graph optimization, submission, execution and
the transfer of the result to this process are all inside. The system is also Dask's
configured scheduler meanwhile, so computations Dask starts on its own while optimizing
(a dataframe's divisions before `set_index`) run on it too. Every result is checked against
Dask's `sync` scheduler's.

Two modes: `warm` starts each system once and gives it an uncounted warm-up run per
workload before timing it, so it has learned what it learns (task durations, sizes);
`cold` starts each system afresh for every timed run, with no warm-up, as a user's first
run on a new cluster. Systems that keep nothing (`STATELESS`) run once, for both.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import dask

from benchmarks.systems import DISTRIBUTED_SHAPES, STATELESS, System, available, started
from benchmarks.workloads import Workload

logger = logging.getLogger(__name__)

MODES = ("warm", "cold")
ABLATION_WORKLOADS = ("GEMM", "SVD-ts", "SVD-nn", "TR-delay")
LOCALITY_SWITCHES = ("clustering", "delayed-io", "inline-inputs", "grouping")
COMPARED_MIN_RUNS = 5
"""Runs a cell of Wukong or of a Dask distributed shape makes whatever the budget (up to
`--repeat`), unless one run takes over twice the budget: the targets are ratios between
them, and single runs here swing by ~30%; a shape that slow is far from the best. Five, not
three: the first run after a warm-up on less data is often the slowest (GEMM: 2.0 s, then
1.68 and 1.41 s), and the median of three was then a coin toss between the other two."""


def ablation_variants() -> list[tuple[str, dict[str, bool]]]:
    """All locality techniques on, each one off in turn, and all off."""
    on = {f"wukong.locality.{s}": True for s in LOCALITY_SWITCHES}
    variants = [("all on", on)]
    variants += [(f"{s} off", {**on, f"wukong.locality.{s}": False}) for s in LOCALITY_SWITCHES]
    variants.append(("all off", dict.fromkeys(on, False)))
    return variants


@dataclass
class Plan:
    suite: str
    workloads: list[Workload]
    systems: list[str]
    repeat: int = 5
    budget: float = 0.0
    """Seconds of timed runs a cell may take: it stops before a run that would go past it,
    judged by its runs' mean so far (it always makes one, and a compared system's cell
    `COMPARED_MIN_RUNS`); 0: no limit."""
    ablation: bool = False
    """Also run Wukong warm with each locality technique off in turn."""
    modes: tuple[str, ...] = MODES
    references: dict[str, Any] = field(default_factory=dict)
    """Per workload label, the `sync` scheduler's result."""


Sessions = Callable[[], contextlib.AbstractContextManager[System]]
"""Gives the system to time one run on: the same started one (warm), or a new one (cold)."""


class ColdStartError(RuntimeError):
    """A cold run's system had learned something before it started."""


def run(plan: Plan, out: IO[str]) -> list[dict]:
    """Run the plan (`sync` first, for the references); every record is also written to
    `out` as one JSON line."""
    records: list[dict] = []

    def emit(record: dict) -> None:
        records.append(record)
        out.write(json.dumps(record) + "\n")
        out.flush()

    for name in sorted(plan.systems, key=lambda s: s != "sync"):
        why = available(name)
        if why is not None:
            logger.warning("skipping %s: %s", name, why)
            emit({"suite": plan.suite, "system": name, "skipped": why})
            continue
        preload = sorted({m for w in plan.workloads for m in w.worker_imports})
        for mode in (None,) if name in STATELESS else plan.modes:
            logger.info("starting %s%s", name, f" ({mode})" if mode else "")
            if mode == "cold":
                fresh = functools.partial(started, name, preload=preload)
                for workload in plan.workloads:
                    for record in _measure(plan, name, mode, workload, {}, fresh, False):
                        emit(record)
                continue
            with started(name, preload=preload) as system:
                for record in _run_warm(plan, system, mode):
                    emit(record)
    return records


def _run_warm(plan: Plan, system: System, mode: str | None) -> Iterator[dict]:
    """Every cell on one started system, each workload warmed up once (if the system warms
    up at all)."""
    same = lambda: contextlib.nullcontext(system)  # noqa: E731
    warmed: set[str] = set()
    for workload, variant, settings in _cells(plan, system.name):
        warm_up = system.warm_up and workload.label not in warmed
        warmed.add(workload.label)
        for record in _measure(plan, system.name, mode, workload, settings, same, warm_up):
            yield {**record, "ablation": variant} if variant else record


def _cells(plan: Plan, system: str) -> Iterator[tuple[Workload, str | None, dict]]:
    for workload in plan.workloads:
        yield workload, None, {}
    if plan.ablation and system == "wukong" and "warm" in plan.modes:
        for workload in plan.workloads:
            if workload.name in ABLATION_WORKLOADS:
                for variant, settings in ablation_variants():
                    yield workload, variant, settings


def _measure(plan: Plan, name: str, mode: str | None, workload: Workload, settings: dict,
             sessions: Sessions, warm_up: bool) -> Iterator[dict]:
    """Time `workload` on system `name` up to `plan.repeat` times, each on a system from
    `sessions`, after an uncounted warm-up run if `warm_up`; one record per timed run."""
    base = {"suite": plan.suite, "workload": workload.name, "variant": workload.variant,
            "system": name, "mode": mode, "ideal_seconds": workload.ideal_seconds,
            "work_seconds": workload.own_work() if workload.own_work else None}
    logger.info("%s on %s %s %s", workload.label, name, mode or "", settings or "")
    spent, timed = 0.0, 0
    for index in range(-1 if warm_up else 0, plan.repeat):
        try:
            with sessions() as system:
                learned = system.learned()
                if mode == "cold" and learned:
                    raise ColdStartError(f"{name} started a cold run having learned "
                                         f"{learned} task prefixes")
                colls, value, seconds = _timed(system, workload, settings, index < 0)
                metrics = system.job_metrics()
            if index < 0:
                continue  # the warm-up: its data differs, its result is not compared
            tasks, verified = _task_count(colls), _verify(plan, name, workload, value)
        except Exception as exc:
            logger.exception("%s failed on %s", workload.label, name)
            yield {**base, "repeat": index, "error": f"{type(exc).__name__}: {exc}"}
            return
        spent, timed = spent + seconds, timed + 1
        if timed == 1:
            least = COMPARED_MIN_RUNS if _compared(name, seconds, plan.budget) else 1
        yield {**base, "repeat": index, "seconds": seconds, "tasks": tasks,
               "learned_prefixes": learned, "verified": verified, "wukong": metrics,
               "at": time.time()}
        if plan.budget and timed >= least and spent + spent / timed > plan.budget:
            return


def _timed(system: System, workload: Workload, settings: dict,
           warming: bool) -> tuple[tuple, Any, float]:
    """One run: the collections it computed, their values and the seconds it took."""
    use_warm_up = warming and workload.warm_up is not None
    colls = workload.warm_up(system.slots) if use_warm_up else workload.build()
    with dask.config.set({**settings, "scheduler": system.scheduler}):
        start = time.perf_counter()
        value = dask.compute(*colls, scheduler=system.scheduler)
        seconds = time.perf_counter() - start
    return colls, value, seconds


def _compared(system: str, first_run: float, budget: float) -> bool:
    """A cell the targets compare: Wukong's, or a Dask distributed shape's that could be the
    best (one run within twice the budget)."""
    return system == "wukong" or (system in DISTRIBUTED_SHAPES and first_run <= 2 * budget)


def _verify(plan: Plan, system: str, workload: Workload, value: Any) -> bool:
    """Whether `value` is the `sync` scheduler's result: the first of `sync`'s own runs, or
    computed here, untimed, when `sync` is not among the plan's systems."""
    if system == "sync":
        plan.references.setdefault(workload.label, value)
    elif workload.label not in plan.references:
        with dask.config.set(scheduler="sync"):
            plan.references[workload.label] = dask.compute(*workload.build())
    same = workload.compare(value, plan.references[workload.label])
    if not same:
        logger.error("%s: result differs from the sync scheduler's", workload.label)
    return same


def _task_count(colls: tuple) -> int:
    """Nodes of the graph the scheduler was handed: the collections' optimized expression
    with Dask's finalize tasks. Counted after the run: counting first would compute a
    dataframe's divisions outside the timer, and the timed run would reuse them."""
    from dask._expr import FinalizeCompute
    from dask.base import collections_to_expr

    expr = FinalizeCompute(collections_to_expr(list(colls), optimize_graph=True)).optimize()
    return len(expr.__dask_graph__())


def summarize(records: list[dict]) -> dict[tuple, dict]:
    """Per (workload, variant, system, mode, ablation): median, min, runs, and the median
    run. `mode` is None for systems that keep nothing (the same cell in every mode)."""
    cells: dict[tuple, list[dict]] = {}
    for r in records:
        if "seconds" in r:
            key = (r["workload"], r["variant"], r["system"], r.get("mode"), r.get("ablation"))
            cells.setdefault(key, []).append(r)
    summary = {}
    for key, runs in cells.items():
        times = sorted(r["seconds"] for r in runs)
        median_run = min(runs, key=lambda r: abs(r["seconds"] - statistics.median(times)))
        summary[key] = {"median": statistics.median(times), "min": times[0], "runs": len(runs),
                        "tasks": runs[0]["tasks"], "ideal": runs[0]["ideal_seconds"],
                        "work": runs[0].get("work_seconds"),
                        "verified": all(r["verified"] for r in runs),
                        "wukong": median_run["wukong"]}
    return summary


def machine() -> dict[str, str]:
    """The machine and the versions the numbers were taken with."""
    import importlib.metadata as md
    import os

    versions = {}
    for package in ("dask", "distributed", "numpy", "scikit-learn", "dask-ml", "ray", "redis"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            versions[package] = "not installed"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": str(os.cpu_count()), "memory": f"{memory:.0f} GiB",
            "processor": platform.processor() or platform.machine(), **versions}
