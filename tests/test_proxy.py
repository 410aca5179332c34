"""The KV proxy, against real Redis and a real proxy process: large fan-outs and leaf batches go
through it, small ones do not; jobs finish without it; two jobs share it without mixing; it
reports what it did and stops cleanly."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from operator import add

import pytest
from dask.utils_test import inc

import wukong
from executor_lambda.platforms import ProxyInvoker
from executor_lambda.platforms.local import QueueInvoker
from storage_manager.connections import ENV_REDIS_URLS
from storage_manager.protocol import Invocation
from storage_manager.signing import Signer

# These tests count invocations per batch of leaves: the paper's schedule.
pytestmark = pytest.mark.usefixtures("one_executor_per_leaf")

THRESHOLD = 8  # wukong.proxy.fanout-threshold's default, which the session cluster uses


def fan_out(width: int, start: int = 0, tag: str = "") -> dict:
    """One root task, `width` children of it, and their sum: a fan-out of `width`."""
    dsk: dict = {f"root{tag}": (inc, start)}
    for i in range(width):
        dsk[f"child{tag}-{i}"] = (add, f"root{tag}", i)
    dsk[f"total{tag}"] = (sum, [f"child{tag}-{i}" for i in range(width)])
    return dsk


def expected_total(width: int, start: int = 0) -> int:
    return sum(start + 1 + i for i in range(width))


def vias(report: wukong.JobReport, prefix: str) -> list[str]:
    """How the executor that ran each task whose key starts with `prefix` was invoked."""
    via = {ex.executor: ex.via for ex in report.executors}
    return [via[t.executor] for t in report.tasks if str(t.key).startswith(prefix)]


def test_a_fan_out_above_the_threshold_goes_through_the_proxy(cluster):
    before = cluster.proxy_status()["done"]
    width = THRESHOLD * 3
    assert wukong.get(fan_out(width), "total", cluster=cluster) == expected_total(width)
    children = vias(wukong.last_job(), "child")
    # the root's executor becomes one child and hands the others to the proxy
    assert sorted(children) == [""] + ["proxy"] * (width - 1)
    assert cluster.proxy_status()["done"] >= before + width - 1


def test_a_fan_out_below_the_threshold_is_invoked_directly(cluster):
    width = THRESHOLD - 1
    assert wukong.get(fan_out(width), "total", cluster=cluster) == expected_total(width)
    assert vias(wukong.last_job(), "child") == [""] * width


def test_leaves_go_through_the_proxy(cluster):
    dsk = {f"leaf-{i}": (inc, i) for i in range(THRESHOLD * 2)}
    dsk["total"] = (sum, list(dsk))
    assert wukong.get(dsk, "total", cluster=cluster) == sum(range(1, THRESHOLD * 2 + 1))
    assert set(vias(wukong.last_job(), "leaf")) == {"proxy"}


def test_two_jobs_at_once_through_one_proxy_stay_isolated(cluster):
    width, results, errors = THRESHOLD * 4, {}, []

    def run(tag: str, start: int) -> None:
        try:
            value = wukong.get(fan_out(width, start, tag), f"total{tag}", cluster=cluster)
            results[tag] = (value, vias(wukong.last_job(), f"child{tag}"))
        except Exception as exc:  # reported below, on the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(tag, start))
               for tag, start in (("a", 0), ("b", 1000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results["a"][0] == expected_total(width, 0)
    assert results["b"][0] == expected_total(width, 1000)
    for tag in "ab":
        assert results[tag][1].count("proxy") == width - 1


def status_from_command(cluster) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "kv_proxy", "status", "--function", cluster.function],
        capture_output=True, check=True,
        env={**os.environ, ENV_REDIS_URLS: cluster.redis_urls[0]},
    ).stdout
    return json.loads(out)


def test_the_proxy_reports_its_work_and_stops_cleanly(cluster):
    status = status_from_command(cluster)
    assert status["alive"] is True and status["state"] == "serving"
    assert {"in_flight", "queued", "done", "failed"} <= set(status)
    process = cluster.proxy.process
    try:
        cluster.stop_proxy()
        assert process.returncode == 0
        status = status_from_command(cluster)
        assert status["alive"] is False and status["state"] == "stopped"
        assert status["in_flight"] == status["queued"] == status["unread_batches"] == 0
    finally:
        cluster.start_proxy()


def test_without_a_proxy_jobs_finish_and_the_client_warns_once(cluster, caplog):
    cluster.stop_proxy()
    try:
        caplog.set_level(logging.WARNING, logger="executor_lambda.platforms.proxy")
        cluster.invoker = ProxyInvoker(cluster.invoker.direct, THRESHOLD,  # not yet warned
                                       cluster.shards.shards[0].client)
        width = THRESHOLD * 3
        for _ in range(2):
            dsk = fan_out(width)
            leaves = {f"leaf-{i}": (inc, i) for i in range(THRESHOLD)}
            dsk.update(leaves)
            assert wukong.get(dsk, ["total", *leaves], cluster=cluster) == (
                expected_total(width), *range(1, THRESHOLD + 1))
            assert set(vias(wukong.last_job(), "")) == {""}
        warnings = [r for r in caplog.records if "no KV proxy" in r.getMessage()
                    and r.name == "executor_lambda.platforms.proxy"]  # the client's, not executors'
        assert len(warnings) == 1
    finally:
        cluster.start_proxy()


def test_a_threshold_below_one_is_refused(cluster):
    direct = QueueInvoker(cluster.shards.shards[0].client, cluster.function, cluster.signer)
    with pytest.raises(ValueError, match="fanout-threshold"):
        ProxyInvoker(direct, 0, direct.client)
    assert Invocation.from_event({"job": "j", "task": 1, "id": "x"}, Signer(None)).via == ""


def test_progress_reaches_the_client(cluster):
    from static_scheduler import to_task_graph
    from wukong.compute import plan_job
    from wukong.job import JobRun

    width = THRESHOLD * 2
    job = plan_job(cluster, to_task_graph(fan_out(width), "total"), ["total"], "progress-test")
    seen: list[tuple[int, int]] = []
    JobRun(cluster, job, on_progress=lambda done, total: seen.append((done, total))).run()
    total = width + 2
    assert seen and seen[-1] == (total, total)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
