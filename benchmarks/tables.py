"""Markdown tables from a run's summary: per mode (warm, cold) the wall times with their
ratios to the best Dask distributed shape, to `sync` and to the ideal; the targets; the
per-task overhead; Wukong's own metrics; every cell; the locality ablation.

A summary's keys are (workload, variant, system, mode, ablation); a system that keeps
nothing has mode None, and its one cell stands in every mode's table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks.runner import MODES, ablation_variants
from benchmarks.systems import DISTRIBUTED_SHAPES, NAMES

TIMING = ("Median of the timed runs (n: how many); each run times `dask.compute(...)` from "
          "call to result, with the collections built outside the timer. Ratios, each "
          "system's median over: the best Dask distributed shape's in the same mode (dist), "
          "`sync`'s (sync), and the ideal where one is defined (the critical path of a graph's "
          "sleeps and CPU-bound work, or its CPU-bound work spread over the cores if longer). "
          "Lower is faster.")
MODE_TEXT = {
    "warm": "Warm: each system started once, with one uncounted warm-up run per workload "
            "(systems with worker processes: wukong, dist-*, ray) before its timed runs, so "
            "it has learned what it learns.",
    "cold": "Cold: each system started afresh for every timed run, no warm-up, nothing "
            "learned (Wukong: new redis-servers; distributed: a new LocalCluster).",
    None: "Systems that keep nothing between runs.",
}
STATELESS_NOTE = ("`sync` and `threads` run in this process and keep nothing: one cell for "
                  "both modes.")
PAPER_ARRAYS = ("GEMM", "SVD-ts", "SVD-nn", "SVC")


@dataclass(frozen=True)
class Target:
    families: tuple[str, ...]
    variant: str | None
    """Only this size of the family; None: every size."""
    mode: str
    against: str
    """`dist` (the best distributed shape), `sync` or `ideal`."""
    limit: float


TARGETS = (
    Target(("TR",), None, "warm", "dist", 0.2),
    Target(("TR",), None, "warm", "sync", 2.0),
    Target(("TR",), "1,024 leaves", "warm", "sync", 1.2),
    Target(("TR",), "8,192 leaves", "cold", "sync", 1.5),
    Target(("TR-delay",), None, "warm", "ideal", 1.2),
    Target(("TR-delay",), None, "cold", "ideal", 1.2),
    Target(("map-reduce",), None, "cold", "sync", 1.5),
    Target(PAPER_ARRAYS, None, "warm", "dist", 1.0),
    Target(PAPER_ARRAYS, None, "cold", "dist", 1.1),
)
"""Wukong's targets: a ratio to stay at or under, per workload family (or size) and mode."""


def cell(summary: dict, workload: str, variant: str, system: str, mode: str | None,
         ablation: str | None = None) -> dict | None:
    """The system's cell in `mode`, or its one cell if it keeps nothing."""
    found = summary.get((workload, variant, system, mode, ablation))
    return found or summary.get((workload, variant, system, None, ablation))


def _rows(summary: dict) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for workload, variant, _, _, ablation in summary:
        if ablation is None:
            seen.setdefault((workload, variant))
    return list(seen)


def modes(summary: dict) -> list[str | None]:
    """The modes measured, in `MODES` order; [None] when only systems that keep nothing ran."""
    present = {mode for *_, mode, _ in summary}
    return [m for m in MODES if m in present] or ([None] if summary else [])


def _systems(summary: dict, mode: str | None) -> list[str]:
    present = {system for _, _, system, m, ablation in summary
               if ablation is None and m in (mode, None)}
    return [s for s in NAMES if s in present]


def _columns(summary: dict) -> list[tuple[str, str | None]]:
    """Every (system, mode) measured, systems in `NAMES` order."""
    present = {(system, m) for _, _, system, m, ablation in summary if ablation is None}
    return [(s, m) for s in NAMES for m in (*MODES, None) if (s, m) in present]


def best_distributed(summary: dict, workload: str, variant: str,
                     mode: str | None) -> float | None:
    times = [found["median"] for s in DISTRIBUTED_SHAPES
             if (found := cell(summary, workload, variant, s, mode))]
    return min(times, default=None)


def ratios(summary: dict, workload: str, variant: str, mode: str | None) -> dict[str, float]:
    """What a median is divided by, per reference present: dist, sync and ideal."""
    references = {"dist": best_distributed(summary, workload, variant, mode)}
    sync = cell(summary, workload, variant, "sync", mode)
    references["sync"] = sync and sync["median"]
    references["ideal"] = _row_value(summary, workload, variant, "ideal")
    return {name: value for name, value in references.items() if value}


def _row_value(summary: dict, workload: str, variant: str, name: str) -> float | None:
    """A property of the workload itself (its ideal, its own work), from any of its cells."""
    return next((found[name] for (w, v, *_), found in summary.items()
                 if (w, v) == (workload, variant) and found[name] is not None), None)


def comparison(summary: dict, mode: str | None) -> str:
    systems = _systems(summary, mode)
    lines = ["| workload | tasks | ideal | " + " | ".join(systems) + " |",
             "|---|---:|---:|" + "---:|" * len(systems)]
    for workload, variant in _rows(summary):
        references = ratios(summary, workload, variant, mode)
        cells, tasks, ideal = [], "", ""
        for system in systems:
            found = cell(summary, workload, variant, system, mode)
            if found is None:
                cells.append("—")
                continue
            tasks = f"{found['tasks']:,}"
            ideal = f"{found['ideal']:.2f} s" if found["ideal"] else "—"
            text = "".join(f"{found['median'] / value:.2f}x {name}, "
                           for name, value in references.items())
            mark = "" if found["verified"] else " DIFFERS"
            cells.append(f"{found['median']:.3f} s ({text}n={found['runs']}){mark}")
        lines.append(f"| {workload} {variant} | {tasks} | {ideal} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(summary: dict) -> str:
    lines = ["| workload | system | mode | runs | median | min | verified |",
             "|---|---|---|---:|---:|---:|---|"]
    for (workload, variant, system, mode, ablation), found in summary.items():
        if ablation is None:
            lines.append(f"| {workload} {variant} | {system} | {mode or 'any'} | "
                         f"{found['runs']} | {found['median']:.3f} s | {found['min']:.3f} s | "
                         f"{'yes' if found['verified'] else 'NO'} |")
    return "\n".join(lines)


def wukong_metrics(summary: dict) -> str:
    lines = ["| workload | mode | executors | tasks/executor | written | read | round trips | "
             "invoke | storage | compute | other |", "|---|---|" + "---:|" * 9]
    for workload, variant in _rows(summary):
        for mode in MODES:
            found = summary.get((workload, variant, "wukong", mode, None))
            m = found and found["wukong"]
            if not m:
                continue
            lines.append(
                f"| {workload} {variant} | {mode} | {m['executors']:,} | "
                f"{m['tasks_per_executor']:.1f} | {_mib(m['bytes_written'])} | "
                f"{_mib(m['bytes_read'])} | {m['round_trips']:,} | "
                f"{m['invoke_seconds']:.2f} s | {m['storage_seconds']:.2f} s | "
                f"{m['compute_seconds']:.2f} s | {m['other_seconds']:.2f} s |")
    return "\n".join(lines)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def overhead(summary: dict) -> str:
    """Per-task overhead in µs: (median wall time - the tasks' own work) / tasks, for the
    workloads whose own work was measured; "" if none."""
    rows = [(w, v) for w, v in _rows(summary) if _row_value(summary, w, v, "work") is not None]
    if not rows:
        return ""
    columns = _columns(summary)
    names = [f"{system} {mode}" if mode else system for system, mode in columns]
    lines = ["| workload | tasks | own work | " + " | ".join(names) + " |",
             "|---|---:|---:|" + "---:|" * len(columns)]
    for workload, variant in rows:
        sync = cell(summary, workload, variant, "sync", None)
        sync_us = sync and _per_task_us(sync)
        cells, tasks, work = [], "", ""
        for system, mode in columns:
            found = summary.get((workload, variant, system, mode, None))
            if found is None:
                cells.append("—")
                continue
            tasks, work = f"{found['tasks']:,}", f"{found['work']:.3f} s"
            us = _per_task_us(found)
            ratio = f" ({us / sync_us:.2f}x sync)" if sync_us and system != "sync" else ""
            cells.append(f"{us:,.1f} µs{ratio}")
        lines.append(f"| {workload} {variant} | {tasks} | {work} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _per_task_us(found: dict) -> float:
    return (found["median"] - found["work"]) / found["tasks"] * 1e6


def targets(summary: dict) -> str:
    """Wukong's targets (`TARGETS`), each met or missed, from this run."""
    lines = []
    for workload, variant in _rows(summary):
        for target in TARGETS:
            if workload not in target.families or target.variant not in (None, variant):
                continue
            found = summary.get((workload, variant, "wukong", target.mode, None))
            reference = ratios(summary, workload, variant, target.mode).get(target.against)
            if found is None or not reference:
                continue
            ratio = found["median"] / reference
            verdict = "met" if ratio <= target.limit else "MISSED"
            lines.append(f"- {workload} {variant}, {target.mode}: Wukong {ratio:.2f}x "
                         f"(<= {target.limit:g}x {target.against}): {verdict}")
    if lines:
        return "\n".join(lines)
    ran = any(system == "wukong" for _, _, system, _, _ in summary)
    return "- (no target applies to these workloads)" if ran else "- (no Wukong runs)"


def ablation(summary: dict) -> str:
    variants = [name for name, _ in ablation_variants()]
    rows: dict[tuple[str, str], dict[str, dict]] = {}
    for (workload, variant, system, _, label), found in summary.items():
        if label is not None and system == "wukong":
            rows.setdefault((workload, variant), {})[label] = found
    if not rows:
        return ""
    lines = ["| workload | " + " | ".join(variants) + " |", "|---|" + "---:|" * len(variants)]
    for (workload, variant), cells in rows.items():
        base = cells.get("all on")
        lines.append(f"| {workload} {variant} | "
                     + " | ".join(_ablation_cell(cells.get(v), base) for v in variants) + " |")
    return "\n".join(lines)


def _ablation_cell(found: dict | None, base: dict | None) -> str:
    """Median time and bytes written to Redis, each with its ratio to all on."""
    if found is None:
        return "—"
    seconds, written = found["median"], found["wukong"]["bytes_written"]
    text = f"{seconds:.3f} s, {_mib(written)}"
    if base:
        base_written = base["wukong"]["bytes_written"]
        text += f" ({seconds / base['median']:.2f}x time"
        text += f", {written / base_written:.2f}x bytes)" if base_written else ")"
    return f"{text}, n={found['runs']}"


def results_markdown(summary: dict, machine: dict[str, str], command: str) -> str:
    sections = [
        "# Benchmark results", "",
        f"Taken {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `{command}`.", "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()) + ".", "",
    ]
    for mode in modes(summary):
        sections += [f"## Wall time, {mode}" if mode else "## Wall time", "", MODE_TEXT[mode],
                     STATELESS_NOTE if mode else "", "", TIMING, "",
                     comparison(summary, mode), ""]
    sections += ["## Targets", "", targets(summary), ""]
    table = overhead(summary)
    if table:
        sections += ["## Per-task overhead", "",
                     "Microseconds per task: (median wall time - the tasks' own work) / tasks. "
                     "Own work: the tasks' functions called one after another in this process, "
                     "without a scheduler.", "", table, ""]
    sections += [
        "## Wukong, from the job's per-task events (median run)", "",
        "Time columns are executor-seconds summed over the job: invoke is the wait from "
        "asking for an executor to its handler starting; storage is time inside Redis calls "
        "(without the last publish of each invocation, which carries the events); compute is "
        "inside the tasks; other is the rest of each task's span (deserialization, the loop).",
        "", wukong_metrics(summary), "",
        "## All cells", "", details(summary), "",
    ]
    table = ablation(summary)
    if table:
        sections += ["## Locality ablation (Wukong, warm)", "",
                     "Each locality technique off in turn (`wukong.locality.*` via "
                     "`dask.config.set`): median time and bytes written to Redis, each "
                     "with its ratio to all on.", "", table, ""]
    return "\n".join(sections)
