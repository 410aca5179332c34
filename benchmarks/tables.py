"""Markdown tables from a run's summary: the comparison, Wukong's own metrics, the targets,
the details and the locality ablation. Ratios are to the best Dask distributed shape."""

from __future__ import annotations

import time

from benchmarks.runner import ablation_variants
from benchmarks.systems import DISTRIBUTED_SHAPES, NAMES

TIMING = ("Median of the timed runs (n: how many; min below); each run times "
          "`dask.compute(...)` from call to result, with the collections built outside the "
          "timer. Ratio: the system's median over the best Dask distributed shape's "
          "(lower is faster). Systems with worker processes (wukong, dist-*, ray) get one "
          "uncounted warm-up run per workload; `sync` and `threads` keep nothing to warm.")


def _rows(summary: dict) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for workload, variant, _, ablation in summary:
        if ablation is None:
            seen.setdefault((workload, variant))
    return list(seen)


def _systems(summary: dict) -> list[str]:
    present = {system for _, _, system, ablation in summary if ablation is None}
    return [s for s in NAMES if s in present]


def best_distributed(summary: dict, workload: str, variant: str) -> float | None:
    times = [summary[(workload, variant, s, None)]["median"] for s in DISTRIBUTED_SHAPES
             if (workload, variant, s, None) in summary]
    return min(times, default=None)


def comparison(summary: dict) -> str:
    systems = _systems(summary)
    lines = ["| workload | tasks | ideal | " + " | ".join(systems) + " |",
             "|---|---:|---:|" + "---:|" * len(systems)]
    for workload, variant in _rows(summary):
        best = best_distributed(summary, workload, variant)
        cells, tasks, ideal = [], "", ""
        for system in systems:
            cell = summary.get((workload, variant, system, None))
            if cell is None:
                cells.append("—")
                continue
            tasks = f"{cell['tasks']:,}"
            ideal = f"{cell['ideal']:.2f} s" if cell["ideal"] else "—"
            ratio = f"{cell['median'] / best:.2f}x, " if best else ""
            mark = "" if cell["verified"] else " DIFFERS"
            cells.append(f"{cell['median']:.3f} s ({ratio}n={cell['runs']}){mark}")
        lines.append(f"| {workload} {variant} | {tasks} | {ideal} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def details(summary: dict) -> str:
    lines = ["| workload | system | runs | median | min | verified |",
             "|---|---|---:|---:|---:|---|"]
    for (workload, variant, system, ablation), cell in summary.items():
        if ablation is None:
            lines.append(f"| {workload} {variant} | {system} | {cell['runs']} | "
                         f"{cell['median']:.3f} s | {cell['min']:.3f} s | "
                         f"{'yes' if cell['verified'] else 'NO'} |")
    return "\n".join(lines)


def wukong_metrics(summary: dict) -> str:
    lines = ["| workload | executors | tasks/executor | written | read | round trips | "
             "invoke | storage | compute | other |", "|---|" + "---:|" * 9]
    for workload, variant in _rows(summary):
        cell = summary.get((workload, variant, "wukong", None))
        m = cell and cell["wukong"]
        if not m:
            continue
        lines.append(
            f"| {workload} {variant} | {m['executors']:,} | {m['tasks_per_executor']:.1f} | "
            f"{_mib(m['bytes_written'])} | {_mib(m['bytes_read'])} | {m['round_trips']:,} | "
            f"{m['invoke_seconds']:.2f} s | {m['storage_seconds']:.2f} s | "
            f"{m['compute_seconds']:.2f} s | {m['other_seconds']:.2f} s |")
    return "\n".join(lines)


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB"


def targets(summary: dict) -> str:
    """The issue's targets, each met or missed, from this run."""
    lines = []
    for workload, variant in _rows(summary):
        cell = summary.get((workload, variant, "wukong", None))
        best = best_distributed(summary, workload, variant)
        if cell is None:
            continue
        wk = cell["median"]
        checks: list[tuple[str, float, float]] = []
        if workload == "TR":
            sync = summary.get((workload, variant, "sync", None))
            if best:
                checks.append(("<= 0.2x best distributed", wk / best, 0.2))
            if sync:
                checks.append(("<= 2x sync", wk / sync["median"], 2.0))
        elif workload == "TR-delay":
            checks.append(("<= 1.25x ideal", wk / cell["ideal"], 1.25))
        elif best:
            checks.append(("<= 1.1x best distributed", wk / best, 1.1))
        for goal, ratio, limit in checks:
            verdict = "met" if ratio <= limit else "MISSED"
            lines.append(f"- {workload} {variant}: Wukong {ratio:.2f}x ({goal}): {verdict}")
    return "\n".join(lines) or "- (no Wukong runs)"


def ablation(summary: dict) -> str:
    variants = [name for name, _ in ablation_variants()]
    rows: dict[tuple[str, str], dict[str, dict]] = {}
    for (workload, variant, system, label), cell in summary.items():
        if label is not None and system == "wukong":
            rows.setdefault((workload, variant), {})[label] = cell
    if not rows:
        return ""
    lines = ["| workload | " + " | ".join(variants) + " |", "|---|" + "---:|" * len(variants)]
    for (workload, variant), cells in rows.items():
        base = cells.get("all on")
        lines.append(f"| {workload} {variant} | "
                     + " | ".join(_ablation_cell(cells.get(v), base) for v in variants) + " |")
    return "\n".join(lines)


def _ablation_cell(cell: dict | None, base: dict | None) -> str:
    """Median time and bytes written to Redis, each with its ratio to all on."""
    if cell is None:
        return "—"
    seconds, written = cell["median"], cell["wukong"]["bytes_written"]
    text = f"{seconds:.3f} s, {_mib(written)}"
    if base:
        base_written = base["wukong"]["bytes_written"]
        text += f" ({seconds / base['median']:.2f}x time"
        text += f", {written / base_written:.2f}x bytes)" if base_written else ")"
    return f"{text}, n={cell['runs']}"


def results_markdown(summary: dict, machine: dict[str, str], command: str) -> str:
    sections = [
        "# Benchmark results", "",
        f"Taken {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with `{command}`.", "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in machine.items()) + ".", "",
        "## Wall time", "", TIMING, "", comparison(summary), "",
        "## Targets", "", targets(summary), "",
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
        sections += ["## Locality ablation (Wukong)", "",
                     "Each locality technique off in turn (`wukong.locality.*` via "
                     "`dask.config.set`): median time and bytes written to Redis, each "
                     "with its ratio to all on.", "", table, ""]
    return "\n".join(sections)
