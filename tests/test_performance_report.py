"""The performance report: what it computes from a job's events, the page it writes, and that
page opened in headless Chromium (Debian's package, driven by playwright).
"""

from __future__ import annotations

import itertools
import re
import shutil
import tempfile
import time
from collections import Counter
from operator import add

import dask.array as da
import numpy as np
import pytest
from dask import delayed
from dask.utils_test import inc

import wukong
from storage_manager import JobGraph
from storage_manager.protocol import ExecutorEvents, TaskEvent
from wukong.measurement.report_plots import COLORS
from wukong.measurement.timeline import concurrency, critical_path, executor_lanes, time_split

T0 = 1_000.0
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
FIGURES_PER_JOB = 4


def task(index: int, start: float, end: float, compute: float = 0.0, storage: float = 0.0
         ) -> TaskEvent:
    return TaskEvent(task=index, start=T0 + start, end=T0 + end, compute_seconds=compute,
                     storage_seconds=storage, round_trips=0, bytes_read=0, bytes_written=0)


def report_of(executors: list[ExecutorEvents], dependencies: list[tuple[int, ...]]
              ) -> wukong.JobReport:
    keys = tuple(f"t{i}" for i in range(len(dependencies)))
    return wukong.JobReport("synthetic", len(keys), T0, T0 + 10, tuple(executors), keys,
                            dependencies)


def test_critical_path_is_the_chain_with_the_most_measured_work():
    """t0 -> t2 <- t1 -> t3: t1 works longest, so the path is t1, then t2 (more work than t3).
    From start to event t0 is longest (its output was held), but that is not its work."""
    report = report_of([
        ExecutorEvents("a", 1, T0, T0, (task(0, 0, 5.0, compute=0.1),
                                        task(2, 5.0, 6.0, compute=0.5, storage=0.1))),
        ExecutorEvents("b", 2, T0, T0, (task(1, 0, 1.0, compute=0.7, storage=0.2),
                                        task(3, 1.0, 1.3, compute=0.3))),
    ], [(), (), (0, 1), (1,)])
    assert critical_path(report) == [1, 2]


def test_executor_lanes_and_concurrency_follow_the_invocations():
    """Invocations that overlap take lanes of their own; one that starts after another ended
    reuses its lane. Waiting counts from the request to the handler's start."""
    report = report_of([
        ExecutorEvents("a", 1, T0, T0 + 0.0, (task(0, 0.0, 2.0),)),
        ExecutorEvents("b", 1, T0, T0 + 0.5, (task(1, 0.5, 1.0),)),
        ExecutorEvents("c", 1, T0 + 1.0, T0 + 1.5, (task(2, 1.5, 3.0),)),
    ], [(), (), ()])
    spans = report.invocations
    assert [s.executor for s in spans] == ["a", "b", "c"]
    assert executor_lanes(spans) == [0, 1, 1]
    steps = concurrency(spans, T0)
    assert steps.times == [0.0, 0.5, 1.0, 1.5, 2.0, 3.0]
    assert steps.running == [1, 2, 1, 2, 1, 0]
    assert steps.waiting == [1, 0, 1, 0, 0, 0]


def test_time_split_counts_idle_time_outside_every_task_once():
    """Two tasks run at once in threads for 1 s of a 4 s invocation: 3 s idle, not 2."""
    report = report_of([ExecutorEvents("a", 1, T0 - 0.25, T0, (
        task(0, 0.0, 1.0, compute=1.0), task(1, 0.0, 1.0, compute=0.5, storage=0.25),
        task(2, 3.9, 4.0, compute=0.1)))], [(), (), ()])
    split = time_split(report)
    assert split.invoke == pytest.approx(0.25)
    assert split.compute == pytest.approx(1.6)
    assert split.storage == pytest.approx(0.25)
    assert split.other == pytest.approx(0.25)
    assert split.idle == pytest.approx(2.9)


@delayed
def block(i: int, size: int) -> np.ndarray:
    return np.full(size, i, dtype=np.uint8)


@delayed
def total(*parts: np.ndarray | int) -> int:
    return int(sum(int(np.sum(p)) for p in parts))


def test_executors_count_the_bytes_each_shard_sent_and_received(
        cluster, one_executor_per_leaf, fan_ins_in_executors):
    """Per shard, the executors' written bytes are the outputs placed there (by the job
    graph's placement rule); read bytes add up to what their tasks consumed (the other
    input of each pair is in memory where the pair meets). Outputs of 10 KB come back in
    fan-in claims, of 200 KB through MGET."""
    groups = [total(block(2 * g, size), block(2 * g + 1, size))
              for g, size in enumerate([10_000] * 4 + [200_000] * 4)]
    assert total(*groups).compute(scheduler="wukong") == sum(
        i * (10_000 if i < 8 else 200_000) for i in range(16))
    report = wukong.last_job()
    dependents: list[list[int]] = [[] for _ in report.task_keys]
    for t, deps in enumerate(report.dependencies):
        for d in deps:
            dependents[d].append(t)
    graph = JobGraph(report.job_id, report.task_keys, (),
                     report.dependencies, dependents, frozenset(), frozenset(),
                     len(cluster.shards), 1)
    placed, written, read = Counter(), Counter(), Counter()
    for ex in report.executors:
        written.update(ex.shard_bytes_written)
        read.update(ex.shard_bytes_read)
        for t in ex.tasks:
            placed[graph.output_shard(t.task)] += t.bytes_written
    assert written == +placed
    assert len(written) == 2, "the fan-ins alternate shards"
    assert sum(read.values()) == report.bytes_read > 4 * 200_000  # a 200 KB input per group
    client = report.client_io
    assert sum(client.shard_bytes_written.values()) > 0  # the graph
    [result] = [t for t, children in enumerate(dependents) if not children]
    assert list(client.shard_bytes_read) == [graph.output_shard(result)]


def test_critical_path_of_a_job_is_a_chain_from_a_leaf_to_the_end(
        cluster, fan_ins_in_executors):
    dsk = {("x", i): (inc, i) for i in range(8)}
    dsk.update({("p", i): (add, ("x", 2 * i), ("x", 2 * i + 1)) for i in range(4)})
    dsk.update({("q", i): (add, ("p", 2 * i), ("p", 2 * i + 1)) for i in range(2)})
    dsk["r"] = (add, ("q", 0), ("q", 1))
    assert wukong.get(dsk, "r") == sum(range(1, 9))
    report = wukong.last_job()
    keys = [report.task_keys[t] for t in critical_path(report)]
    assert len(keys) == 4
    assert keys[0][0] == "x" and keys[1][0] == "p" and keys[2][0] == "q" and keys[3] == "r"
    index = {key: t for t, key in enumerate(report.task_keys)}
    for parent, child in itertools.pairwise(keys):
        assert index[parent] in report.dependencies[index[child]]


def failing(x: int) -> int:
    raise ZeroDivisionError("on purpose")


def test_performance_report_holds_every_job_of_its_block(cluster, tmp_path):
    """Jobs before and after the block are not in it; a failed job inside it is, and the
    page is written although the block ends with its error."""
    wukong.get({"before": (inc, 1)}, "before")
    outside = [wukong.last_job().job_id]
    path = tmp_path / "report.html"
    inside = []
    with pytest.raises(ZeroDivisionError), wukong.performance_report(filename=path):
        wukong.get({"a": (inc, 1)}, "a")
        inside.append(wukong.last_job().job_id)
        try:
            wukong.get({"b": (failing, 1)}, "b")
        finally:
            inside.append(wukong.last_job().job_id)
    wukong.get({"after": (inc, 1)}, "after")
    outside.append(wukong.last_job().job_id)
    page = path.read_text()
    assert all(f"Job {job}" in page for job in inside)
    assert not any(job in page for job in outside)
    assert "2 jobs" in page
    assert re.search(r"<(script|link)\b[^>]*\b(src|href)=", page) is None, "all inline"


def test_job_report_to_html(cluster, tmp_path):
    wukong.get({"a": (inc, 1)}, "a")
    report = wukong.last_job()
    path = tmp_path / "job.html"
    text = report.to_html(path)
    assert path.read_text() == text
    assert f"Job {report.job_id}" in text and "Critical path" in text


FIGURES_JS = """colors => {
  const wanted = new Set(colors);
  const figures = [];
  const visit = (view) => {
    if (view.model.type === "Figure") {
      const canvas = view.canvas_view.primary.canvas;
      const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
      let painted = 0;
      for (let i = 0; i < pixels.data.length; i += 4) {
        const hex = "#" + Array.from(pixels.data.slice(i, i + 3),
                                     v => v.toString(16).padStart(2, "0")).join("");
        if (wanted.has(hex)) painted++;
      }
      figures.push({title: view.model.title.text, width: canvas.width,
                    height: canvas.height, painted});
    }
    for (const child of view.child_views ?? []) visit(child);
  };
  for (const root of Object.values(Bokeh.index)) visit(root);
  return figures;
}"""


def nap(x: int) -> int:
    time.sleep(0.1)
    return x + 1


@pytest.mark.skipif(CHROMIUM is None, reason=(
    "no chromium on PATH: ./run tests installs Debian's chromium package with apt-get, "
    "which could not be done on this machine"))
def test_report_renders_in_headless_chromium(cluster, tmp_path):
    """Opened offline, the page draws every plot (the task stream's and the time split's bars
    paint thousands of pixels in their colors, more than any legend), asks for nothing over
    the network and logs no errors."""
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    x = da.random.default_rng(0).random((800, 800), chunks=(200, 200))
    with wukong.performance_report(filename=path):
        (x @ x.T).sum().compute(scheduler="wukong")
        wukong.get({"a": (nap, 1), "b": (nap, "a")}, "b")
    problems, requests = [], []
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        browser = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.as_uri())
            page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length"
                                   " > 0 && Bokeh.documents.every(d => d.is_idle)",
                                   timeout=60_000)
            figures = page.evaluate(FIGURES_JS, sorted(set(COLORS.values())))
        finally:
            browser.close()
    assert problems == []
    assert requests == [path.as_uri()]
    assert len(figures) == 2 * FIGURES_PER_JOB
    assert all(f["width"] > 0 and f["height"] > 0 for f in figures)
    drawn = [f["painted"] for f in figures
             if f["title"].startswith(("Task stream", "Time split"))]
    assert len(drawn) == 4 and min(drawn) > 3000, figures
