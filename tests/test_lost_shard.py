"""A Redis shard that restarts empty or cannot be reached mid-job: the job fails with
`ShardLost` naming the shard (its URL without password), cleanup reaches every other shard,
and once the shard is back the runtime's intake and the KV proxy serve again: the next job
runs. Each test runs its own cluster and restarts one of its real redis-servers."""

from __future__ import annotations

import pathlib
import time

import dask
import pytest
from background_jobs import in_background, lanes
from conftest import job_keys, wait_for

import wukong
from storage_manager import ShardLost
from storage_manager.connections import redacted

LANES = 2
STEPS = 30
FAN_OUT = 16  # over wukong.proxy.fanout-threshold: the leaves go through the proxy


def fan_out() -> dict:
    dsk = {f"leaf-{i}": (int, str(i)) for i in range(FAN_OUT)}
    dsk["total"] = (sum, list(dsk))
    return dsk


def fail_mid_job(cluster: wukong.LocalCluster, directory: pathlib.Path, fault) -> ShardLost:
    """Run a job, apply `fault` once its tasks run; the error the job failed with."""
    job, outcome = in_background(cluster, lanes(directory, LANES, STEPS, 0.1), "end")
    wait_for(lambda: len(list(directory.iterdir())) >= LANES)
    fault()
    job.join(timeout=120)
    assert not job.is_alive(), "the job hangs"
    assert len(outcome) == 1 and isinstance(outcome[0], ShardLost), outcome
    return outcome[0]


def assert_names(error: BaseException, cluster: wukong.LocalCluster, index: int) -> None:
    url = cluster.redis_urls[index]
    assert redacted(url) in str(error)
    password = cluster.redis_servers[index].users.passwords["client"]
    assert password not in str(error)


def assert_runs_again(cluster: wukong.LocalCluster) -> None:
    one_per_leaf = {"wukong.scheduling.batch-cheap-tasks": False,
                    "wukong.scheduling.work-queue": False,
                    "wukong.locality.grouping": False}
    with dask.config.set(one_per_leaf):  # one batch of FAN_OUT invocations, by the proxy
        assert wukong.get(fan_out(), "total", cluster=cluster) == sum(range(FAN_OUT))
    assert wukong.get({"x": 1, "y": (sum, ["x", "x"])}, "y", cluster=cluster) == 2
    assert job_keys(cluster.admin_urls) == []


@pytest.mark.parametrize("index", [0, 1])
def test_a_shard_restarted_empty_fails_the_job_naming_it(tmp_path, index):
    """Shard 0 also holds the runtime's queue and the proxy's stream: both serve again."""
    with wukong.LocalCluster(shards=2) as cluster:
        assert_runs_again(cluster)
        server = cluster.redis_servers[index]
        error = fail_mid_job(cluster, tmp_path, server.restart)
        assert "lost the data of job" in str(error) or "cannot be reached" in str(error)
        assert_names(error, cluster, index)
        wait_for(lambda: cluster.proxy_status()["alive"])
        batches = cluster.proxy_status()["batches"]
        assert_runs_again(cluster)
        wait_for(lambda: cluster.proxy_status()["batches"] > batches)  # the proxy serves
        assert cluster.runtime.alive() and cluster.proxy.alive()


def test_an_unreachable_shard_fails_the_job_and_cleanup_reaches_the_others(tmp_path):
    with wukong.LocalCluster(shards=2) as cluster:
        server = cluster.redis_servers[1]
        error = fail_mid_job(cluster, tmp_path, server.kill)
        assert "cannot be reached" in str(error)
        assert_names(error, cluster, 1)
        assert job_keys(cluster.admin_urls[:1]) == []
        server.restart()
        assert_runs_again(cluster)


def fails_once_told(directory: str) -> None:
    pathlib.Path(directory, "started").touch()
    while not pathlib.Path(directory, "go").exists():
        time.sleep(0.01)
    raise ValueError("the task's own error")


def test_cleanup_never_hides_the_jobs_own_error(tmp_path):
    """A shard gone while a task fails: the job raises the task's error (or, if the shard
    held the job's log, `ShardLost` naming it), never a connection error from cleanup."""
    with wukong.LocalCluster(shards=2) as cluster:
        server = cluster.redis_servers[1]
        job, outcome = in_background(cluster, {"y": (fails_once_told, str(tmp_path))}, "y")
        wait_for(lambda: (tmp_path / "started").exists())
        server.kill()
        (tmp_path / "go").touch()
        job.join(timeout=120)
        assert not job.is_alive(), "the job hangs"
        assert len(outcome) == 1
        error = outcome[0]
        if isinstance(error, ShardLost):
            assert_names(error, cluster, 1)
        else:
            assert isinstance(error, ValueError) and "the task's own error" in str(error)
        assert job_keys(cluster.admin_urls[:1]) == []
        server.restart()
        assert_runs_again(cluster)
