"""Run workloads on systems, one JSON record per timed run.

Timing is the same for every system: the collections are built outside the timer (fresh for
each run, so no system profits from another's cached optimizations), and the clock runs from
the `dask.compute(...)` call to its return, so graph optimization, submission, execution and
the transfer of the result to this process are all inside. Every result is checked against
the first system's result for that workload.
"""

from __future__ import annotations

import json
import logging
import platform
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import dask

from benchmarks.systems import DISTRIBUTED_SHAPES, System, available, started
from benchmarks.workloads import Workload

logger = logging.getLogger(__name__)

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
    references: dict[str, Any] = field(default_factory=dict)


def run(plan: Plan, out: IO[str]) -> list[dict]:
    """Run the plan; every record is also written to `out` as one JSON line."""
    records: list[dict] = []

    def emit(record: dict) -> None:
        records.append(record)
        out.write(json.dumps(record) + "\n")
        out.flush()

    for name in plan.systems:
        why = available(name)
        if why is not None:
            logger.warning("skipping %s: %s", name, why)
            emit({"suite": plan.suite, "system": name, "skipped": why})
            continue
        logger.info("starting %s", name)
        imports = sorted({m for w in plan.workloads for m in w.worker_imports})
        with started(name, preload=imports) as system:
            warmed: set[str] = set()
            for workload, variant, settings in _cells(plan, name):
                warm_up = system.warm_up and workload.label not in warmed
                warmed.add(workload.label)
                for record in _measure(plan, system, workload, settings, warm_up):
                    emit({**record, "ablation": variant} if variant else record)
    return records


def _cells(plan: Plan, system: str) -> Iterator[tuple[Workload, str | None, dict]]:
    for workload in plan.workloads:
        yield workload, None, {}
    if plan.ablation and system == "wukong":
        for workload in plan.workloads:
            if workload.name in ABLATION_WORKLOADS:
                for variant, settings in ablation_variants():
                    yield workload, variant, settings


def _measure(plan: Plan, system: System, workload: Workload, settings: dict,
             warm_up: bool) -> Iterator[dict]:
    """Time `workload` on `system` up to `plan.repeat` times, after an uncounted warm-up run
    if `warm_up`; one record per timed run."""
    base = {"suite": plan.suite, "workload": workload.name, "variant": workload.variant,
            "system": system.name, "ideal_seconds": workload.ideal_seconds}
    logger.info("%s on %s %s", workload.label, system.name, settings or "")
    spent, timed, runs = 0.0, 0, range(-1 if warm_up else 0, plan.repeat)
    for index in runs:
        try:
            warming = index < 0 and workload.warm_up is not None
            colls = workload.warm_up(system.slots) if warming else workload.build()
            tasks = _task_count(colls)
            with dask.config.set(settings):
                start = time.perf_counter()
                value = dask.compute(*colls, scheduler=system.scheduler)
                seconds = time.perf_counter() - start
        except Exception as exc:
            logger.exception("%s failed on %s", workload.label, system.name)
            yield {**base, "repeat": index, "error": f"{type(exc).__name__}: {exc}"}
            return
        if index < 0:
            continue  # the warm-up: its data differs, its result is not compared
        spent, timed = spent + seconds, timed + 1
        if timed == 1:
            least = COMPARED_MIN_RUNS if _compared(system.name, seconds, plan.budget) else 1
        yield {**base, "repeat": index, "seconds": seconds, "tasks": tasks,
               "verified": _verify(plan, workload, value), "wukong": system.job_metrics(),
               "at": time.time()}
        if plan.budget and timed >= least and spent + spent / timed > plan.budget:
            return


def _compared(system: str, first_run: float, budget: float) -> bool:
    """A cell the targets compare: Wukong's, or a Dask distributed shape's that could be the
    best (one run within twice the budget)."""
    return system == "wukong" or (system in DISTRIBUTED_SHAPES and first_run <= 2 * budget)


def _verify(plan: Plan, workload: Workload, value: Any) -> bool:
    reference = plan.references.setdefault(workload.label, value)
    if reference is value:
        return True
    same = workload.compare(value, reference)
    if not same:
        logger.error("%s: result differs from the first system's", workload.label)
    return same


def _task_count(colls: tuple) -> int:
    """Nodes of the optimized graph every scheduler is handed."""
    from dask.base import collections_to_expr

    return len(collections_to_expr(list(colls), optimize_graph=True).__dask_graph__())


def summarize(records: list[dict]) -> dict[tuple, dict]:
    """Per (workload, variant, system, ablation): median, min, runs, and the median run."""
    cells: dict[tuple, list[dict]] = {}
    for r in records:
        if "seconds" in r:
            key = (r["workload"], r["variant"], r["system"], r.get("ablation"))
            cells.setdefault(key, []).append(r)
    summary = {}
    for key, runs in cells.items():
        times = sorted(r["seconds"] for r in runs)
        median_run = min(runs, key=lambda r: abs(r["seconds"] - statistics.median(times)))
        summary[key] = {"median": statistics.median(times), "min": times[0], "runs": len(runs),
                        "tasks": runs[0]["tasks"], "ideal": runs[0]["ideal_seconds"],
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
