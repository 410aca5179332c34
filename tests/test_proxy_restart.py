"""A proxy killed in the middle of a batch loses no invocation once it is restarted; and the
latency model's settings reach the executors. Runs its own small cluster with the latency
model on, so the proxy holds a batch long enough to be killed while holding it."""

from __future__ import annotations

import os
import threading

import dask
import redis
from conftest import job_keys, wait_for
from dask.utils_test import inc

import wukong
from storage_manager.protocol import PROXY_GROUP, FunctionKeys

LEAVES = 40
CONCURRENCY = 2  # with 0.05 s per invocation the proxy needs about a second for the leaves


def pending_batches(client: redis.Redis, function: str) -> int:
    return client.xpending(FunctionKeys(function).proxy_requests, PROXY_GROUP)["pending"]


def latency_env(_):
    return os.environ["WUKONG_INVOKE_SECONDS"], os.environ["WUKONG_PROXY_THRESHOLD"]


def test_a_proxy_killed_mid_batch_and_restarted_loses_no_invocation():
    settings = {"wukong.runtime.latency.invoke-seconds": 0.05,
                "wukong.runtime.concurrency": CONCURRENCY,
                "wukong.scheduling.work-queue": False}  # an invocation per leaf: one batch
    with dask.config.set(settings), wukong.LocalCluster(shards=1) as cluster:
        client = redis.Redis.from_url(cluster.admin_urls[0])
        assert wukong.get({"x": 1, "env": (latency_env, "x")}, "env",
                          cluster=cluster) == ("0.05", "8")
        dsk = {f"leaf-{i}": (inc, i) for i in range(LEAVES)}
        dsk["total"] = (sum, list(dsk))
        outcome: list = []
        job = threading.Thread(target=lambda: outcome.append(
            wukong.get(dsk, "total", cluster=cluster)))
        job.start()
        wait_for(lambda: pending_batches(client, cluster.function) == 1)
        cluster.kill_proxy()
        assert pending_batches(client, cluster.function) == 1, "killed after it finished"
        cluster.start_proxy()
        job.join()
        assert outcome == [sum(range(1, LEAVES + 1))]
        status = cluster.proxy_status()
        assert status["recovered_batches"] == 1
        assert pending_batches(client, cluster.function) == 0
        assert job_keys(cluster.admin_urls) == []
