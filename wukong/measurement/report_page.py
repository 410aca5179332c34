"""The performance report as one self-contained HTML page: a section per job.

Bokeh's JavaScript and CSS are inlined (`bokeh.resources.INLINE`), so the page opens offline
and can be mailed or archived as one file. Each job's section has its summary, the task
stream per executor with the critical path outlined, invocations over time, bytes to and
from Redis per shard, the time split, the critical path's tasks, and the cost on Lambda.
"""

from __future__ import annotations

import html
import os
import pathlib
from collections.abc import Sequence
from typing import Any, Protocol

try:
    from bokeh.embed import file_html
    from bokeh.layouts import column, row
    from bokeh.models import Div
    from bokeh.resources import INLINE
except ImportError as exc:  # an optional dependency
    raise ImportError('the performance report needs bokeh: pip install "wukong[diagnostics]"'
                      ) from exc

from storage_manager import IOStats
from wukong.measurement.cost import LambdaCost
from wukong.measurement.report_plots import (
    bytes_per_shard,
    cost_table,
    critical_path_table,
    executors_over_time,
    task_stream,
    time_split_plot,
)
from wukong.measurement.timeline import FinishedJob, concurrency, critical_path, time_split

TITLE = "Wukong performance report"


class ReportedJob(FinishedJob, Protocol):
    """What the page shows of a job: `wukong.JobReport` has it all."""

    @property
    def job_id(self) -> str: ...
    @property
    def submitted_at(self) -> float: ...
    @property
    def wall_seconds(self) -> float: ...
    @property
    def task_keys(self) -> Sequence[Any]: ...
    @property
    def client_io(self) -> IOStats | None: ...
    @property
    def cost(self) -> LambdaCost: ...
    def summary(self) -> str: ...


def report_html(jobs: Sequence[ReportedJob], filename: str | os.PathLike | None = None) -> str:
    """The page for `jobs`, in their order; also written to `filename` if given."""
    page = column(_header(jobs), *(_section(job) for job in jobs),
                  sizing_mode="stretch_width")
    text = file_html(page, INLINE, title=TITLE)
    if filename is not None:
        pathlib.Path(filename).write_text(text, encoding="utf-8")
    return text


def _header(jobs: Sequence[ReportedJob]) -> Div:
    if not jobs:
        return Div(text=f"<h1>{TITLE}</h1><p>No job finished while the report was open.</p>")
    costs = [job.cost for job in jobs]
    what = "estimated cost" if any(c.estimated for c in costs) else "cost"
    return Div(text=(
        f"<h1>{TITLE}</h1><p>{len(jobs)} job{'s' if len(jobs) > 1 else ''}, "
        f"{sum(job.wall_seconds for job in jobs):.3f} s in all; {what} on Lambda "
        f"${sum(c.dollars for c in costs):,.6f} ({sum(c.requests for c in costs):,} "
        f"requests, {sum(c.gb_seconds for c in costs):,.3f} GB-s).</p>"),
        sizing_mode="stretch_width")


def _section(job: ReportedJob) -> Any:
    spans = job.invocations
    path = critical_path(job)
    origin = job.submitted_at
    return column(
        Div(text=f"<h2>Job {html.escape(job.job_id)}</h2><p>{html.escape(job.summary())}</p>",
            sizing_mode="stretch_width"),
        task_stream(job.executors, spans, job.task_keys, path, origin),
        row(executors_over_time(concurrency(spans, origin)),
            bytes_per_shard(job.executors, job.client_io), sizing_mode="stretch_width"),
        row(time_split_plot(time_split(job)),
            column(cost_table(job.cost),
                   critical_path_table(path, job.executors, job.task_keys, job.wall_seconds),
                   sizing_mode="stretch_width"),
            sizing_mode="stretch_width"),
        sizing_mode="stretch_width")
