"""The performance report's plots of one job, drawn with bokeh from its `timeline`.

Each function returns a bokeh model; `report_page` lays them out. Times on x axes are
seconds since the job was submitted.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from bokeh.models import (
    AdaptiveTicker,
    ColumnDataSource,
    Div,
    FactorRange,
    HoverTool,
    NumeralTickFormatter,
)
from bokeh.plotting import figure

from storage_manager import IOStats
from storage_manager.protocol import ExecutorEvents
from wukong.measurement.cost import InvocationSpan, LambdaCost
from wukong.measurement.timeline import (
    Concurrency,
    TimeSplit,
    executor_lanes,
    task_label,
    task_work,
)

COLORS = {"compute": "#3b7dd8", "storage": "#d8553b", "other": "#b9b9b9", "invoke": "#8c6bb1",
          "idle": "#e8e8e8", "critical": "#111111", "client": "#f0a830", "executors": "#3b7dd8"}
TOOLS = "xpan,xwheel_zoom,box_zoom,reset,save"
SPLIT_PARTS = {"invoke": "waiting to be started", "compute": "in the tasks' functions",
               "storage": "in Redis calls", "idle": "in an invocation, in no task",
               "other": "in tasks: (de)serialization, outputs held at fan-ins"}
PATH_ROWS = 20
"""Tasks of the critical path listed by name; the rest are counted."""


def task_stream(executors: Sequence[ExecutorEvents], spans: Sequence[InvocationSpan],
                keys: Sequence[Any], path: Sequence[int], origin: float) -> figure:
    """A lane per executor slot (see `executor_lanes`), an outlined bar per invocation, and
    a bar per task from its start to its event, split into its compute, storage and other
    time (their shares of the task, not their order in it); tasks of the critical path are
    outlined in black."""
    lanes = executor_lanes(spans)
    lane_of = {(s.executor, s.started_at): lane for s, lane in zip(spans, lanes, strict=True)}
    rows = _task_columns(executors, lane_of, keys, set(path), origin)
    plot = figure(title="Task stream: a lane per executor", height=min(900, 140 + 22 * (
        max(lanes, default=0) + 1)), sizing_mode="stretch_width", tools=TOOLS,
        x_axis_label="seconds since submit", y_axis_label="executor")
    calls = plot.hbar(y="lane", left="left", right="right", height=0.9,
                      fill_color=COLORS["idle"], line_color="#888888",
                      source=ColumnDataSource(_spans_columns(spans, lanes, origin)),
                      legend_label="invocation")
    tasks = ColumnDataSource(rows)
    plot.hbar(y="lane", left="left", right="compute_end", height=0.7, source=tasks,
              fill_color=COLORS["compute"], line_color=None, legend_label="compute")
    plot.hbar(y="lane", left="compute_end", right="storage_end", height=0.7, source=tasks,
              fill_color=COLORS["storage"], line_color=None, legend_label="storage")
    plot.hbar(y="lane", left="storage_end", right="right", height=0.7, source=tasks,
              fill_color=COLORS["other"], line_color=None, legend_label="other")
    whole = plot.hbar(y="lane", left="left", right="right", height=0.7, source=tasks,
                      fill_alpha=0, line_color=None)
    critical = {name: [v for v, c in zip(column, rows["critical"], strict=True) if c]
                for name, column in rows.items()}
    plot.hbar(y="lane", left="left", right="right", height=0.8, fill_alpha=0,
              line_color=COLORS["critical"], line_width=2, source=ColumnDataSource(critical),
              legend_label="critical path")
    plot.add_tools(HoverTool(renderers=[whole], tooltips=[
        ("task", "@key"), ("executor", "@executor"), ("seconds", "@seconds{0.000}"),
        ("compute", "@compute{0.000} s"), ("storage", "@storage{0.000} s"),
        ("read", "@read{0,0} B"), ("written", "@written{0,0} B")]))
    plot.add_tools(HoverTool(renderers=[calls], tooltips=[
        ("invocation", "@executor"), ("process", "@pid"), ("arrived", "@via"),
        ("tasks", "@tasks"), ("billed", "@billed_ms{0,0} ms")]))
    plot.y_range.flipped = True
    plot.yaxis.ticker = AdaptiveTicker(min_interval=1, num_minor_ticks=0)
    plot.legend.click_policy = "hide"
    plot.add_layout(plot.legend[0], "right")
    return plot


def _task_columns(executors: Sequence[ExecutorEvents], lane_of: dict[tuple[str, float], int],
                  keys: Sequence[Any], on_path: set[int], origin: float) -> dict[str, list]:
    rows: dict[str, list] = {name: [] for name in (
        "lane", "left", "compute_end", "storage_end", "right", "key", "executor", "compute",
        "storage", "seconds", "read", "written", "critical")}
    for ex in executors:
        for t in ex.tasks:
            left, right = t.start - origin, t.end - origin
            compute_end = min(right, left + t.compute_seconds)
            for name, value in (
                    ("lane", lane_of[ex.executor, ex.started_at]), ("left", left),
                    ("compute_end", compute_end),
                    ("storage_end", min(right, compute_end + t.storage_seconds)),
                    ("right", right), ("key", task_label(keys[t.task])),
                    ("executor", ex.executor), ("compute", t.compute_seconds),
                    ("storage", t.storage_seconds), ("seconds", t.end - t.start),
                    ("read", t.bytes_read), ("written", t.bytes_written),
                    ("critical", t.task in on_path)):
                rows[name].append(value)
    return rows


def _spans_columns(spans: Sequence[InvocationSpan], lanes: Sequence[int],
                   origin: float) -> dict[str, list]:
    return {"lane": list(lanes), "left": [s.started_at - origin for s in spans],
            "right": [s.ended_at - origin for s in spans],
            "executor": [s.executor for s in spans], "pid": [s.pid for s in spans],
            "via": [s.via or "direct" for s in spans], "tasks": [s.tasks for s in spans],
            "billed_ms": [s.billed_ms for s in spans]}


def executors_over_time(steps: Concurrency) -> figure:
    """Invocations running, and asked for but not started yet, over time."""
    plot = figure(title="Invocations over time", height=300, sizing_mode="stretch_width",
                  tools=TOOLS, x_axis_label="seconds since submit", y_axis_label="executors")
    source = ColumnDataSource({"time": steps.times, "running": steps.running,
                               "waiting": steps.waiting})
    plot.step(x="time", y="running", mode="after", source=source, line_width=2,
              color=COLORS["compute"], legend_label="running")
    plot.step(x="time", y="waiting", mode="after", source=source, line_width=2,
              color=COLORS["invoke"], legend_label="waiting to start")
    plot.legend.location = "top_right"
    return plot


def bytes_per_shard(executors: Sequence[ExecutorEvents], client: IOStats | None) -> figure:
    """Bytes of values each shard sent (read) and received (written), by the executors and
    by the client."""
    totals: dict[tuple[str, str], dict[str, int]] = {}
    sources = [("executors", ex.shard_bytes_read, ex.shard_bytes_written) for ex in executors]
    if client is not None:
        sources.append(("client", client.shard_bytes_read, client.shard_bytes_written))
    for who, read, written in sources:
        for direction, counts in (("read", read), ("written", written)):
            for shard, count in counts.items():
                bar = totals.setdefault((f"shard {shard}", direction),
                                        {"executors": 0, "client": 0})
                bar[who] += count
    for shard in sorted({shard for shard, _ in totals}):  # both bars for every shard
        for direction in ("read", "written"):
            totals.setdefault((shard, direction), {"executors": 0, "client": 0})
    factors = sorted(totals, key=lambda bar: (int(bar[0].split()[1]), bar[1]))
    plot = figure(title="Bytes to and from Redis, per shard", height=300,
                  sizing_mode="stretch_width", x_range=FactorRange(*factors),
                  tools="save", y_axis_label="bytes")
    source = ColumnDataSource({"bar": factors,
                               "executors": [totals[f]["executors"] for f in factors],
                               "client": [totals[f]["client"] for f in factors]})
    plot.vbar_stack(["executors", "client"], x="bar", width=0.8, source=source,
                    color=[COLORS["executors"], COLORS["client"]],
                    legend_label=["executors", "client"])
    plot.add_tools(HoverTool(tooltips=[("bar", "@bar"), ("executors", "@executors{0,0} B"),
                                       ("client", "@client{0,0} B")]))
    plot.yaxis.formatter = NumeralTickFormatter(format="0.0 b")
    plot.y_range.start = 0
    return plot


def time_split_plot(split: TimeSplit) -> figure:
    """Executor-seconds by what they were spent on."""
    parts = split.parts()
    names = [name for name, _ in parts]
    plot = figure(title="Time split (executor-seconds)", height=300,
                  sizing_mode="stretch_width", y_range=FactorRange(*reversed(names)),
                  tools="save", x_axis_label="seconds")
    source = ColumnDataSource({"part": names, "seconds": [s for _, s in parts],
                               "color": [COLORS[name] for name in names],
                               "what": [SPLIT_PARTS[name] for name in names]})
    plot.hbar(y="part", right="seconds", height=0.7, color="color", source=source)
    plot.add_tools(HoverTool(tooltips=[("", "@what"), ("seconds", "@seconds{0.000}")]))
    plot.x_range.start = 0
    return plot


def cost_table(cost: LambdaCost) -> Div:
    p = cost.pricing
    rows = [("platform", "estimate from the local runtime" if cost.estimated else "AWS Lambda"),
            ("architecture", p.architecture), ("memory", f"{p.memory_mb:,} MB"),
            ("requests", f"{cost.requests:,} x ${_price(p.request)}"),
            ("duration", f"{cost.gb_seconds:,.3f} GB-s x ${_price(p.gb_second)}"),
            ("total", f"${cost.dollars:,.6f}")]
    return Div(text="<h3>Cost on AWS Lambda</h3>" + _table(rows), sizing_mode="stretch_width")


def critical_path_table(path: Sequence[int], executors: Sequence[ExecutorEvents],
                        keys: Sequence[Any], wall_seconds: float) -> Div:
    """The critical path's tasks in order, with their measured work (`task_work`) and the
    invocation that ran them."""
    runs: dict[int, tuple[float, str]] = {}
    for ex in executors:
        for t in ex.tasks:
            if task_work(t) >= runs.get(t.task, (-1.0, ""))[0]:
                runs[t.task] = (task_work(t), ex.executor)
    total = sum(runs[task][0] for task in path)
    rows = [(task_label(keys[task]), f"{runs[task][0]:.3f} s", runs[task][1][:8])
            for task in path[:PATH_ROWS]]
    if len(path) > PATH_ROWS:
        rows.append(("...", f"{len(path) - PATH_ROWS} more tasks", ""))
    head = (f"<h3>Critical path</h3><p>{len(path)} tasks, {total:.3f} s of compute and "
            f"storage in all; the job took {wall_seconds:.3f} s.</p>")
    return Div(text=head + _table(rows), sizing_mode="stretch_width")


def _price(dollars: float) -> str:
    """A unit price in full decimals (0.0000002, not 2e-07)."""
    return f"{dollars:.12f}".rstrip("0").rstrip(".")


def _table(rows: Sequence[Sequence[str]]) -> str:
    cell = '<td style="padding: 1px 12px 1px 0">'
    cells = "".join("<tr>" + "".join(f"{cell}{html.escape(text)}</td>" for text in row)
                    + "</tr>" for row in rows)
    return f"<table>{cells}</table>"
