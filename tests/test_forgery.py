"""Someone who can write to Redis but does not hold the deployment's key (a leaked password,
a shared server) cannot make a cluster unpickle anything: a forged invocation, a graph signed
by another deployment, an output overwritten in Redis, and forged events and log entries
are each refused before unpickling, counted, and fail the job they name with
`Unauthenticated`. Every forged pickle here would make a directory if it were unpickled."""

from __future__ import annotations

import base64
import json
import os
import pickle
import threading
from operator import add

import pytest
import redis
from conftest import wait_for
from dask.utils_test import inc

import wukong
from executor_lambda import TaskFailure
from static_scheduler import to_task_graph
from storage_manager import JobStore, dumps
from storage_manager.protocol import FunctionKeys, Invocation
from storage_manager.shards import job_shard
from storage_manager.signing import Signer, Unauthenticated
from wukong.compute import plan_job


class Boom:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return os.mkdir, (self.path,)


def refused(cluster) -> int:
    client = redis.Redis.from_url(cluster.admin_urls[0])
    try:
        return int(client.get(FunctionKeys(cluster.function).refused) or 0)
    finally:
        client.close()


def live_job(url: str) -> str | None:
    """The id of the one job running on the cluster, once its live flag is up."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match="wk:*:live"))
    finally:
        client.close()
    return keys[0].decode().split(":")[1] if keys else None


def wait_for_signal(url: str, key: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        client.blpop([key], timeout=60)
        return 1
    finally:
        client.delete(key)
        client.close()


def forged_invocation(job: str, marker: str) -> bytes:
    """An invocation with no tag whose seed would run `Boom` when unpickled."""
    seed = base64.b64encode(pickle.dumps(Boom(marker))).decode()
    return json.dumps({"job": job, "task": 0, "id": "forged", "seed": seed}).encode()


def test_a_forged_invocation_runs_nothing(cluster, tmp_path):
    marker, before = str(tmp_path / "ran"), refused(cluster)
    admin = redis.Redis.from_url(cluster.admin_urls[0])
    admin.lpush(FunctionKeys(cluster.function).queue, forged_invocation("nojob", marker))
    admin.close()
    wait_for(lambda: refused(cluster) > before)
    assert not os.path.exists(marker)
    assert wukong.get({"x": 1, "y": (inc, "x")}, "y") == 2


def test_a_forged_invocation_of_a_running_job_fails_it(cluster, tmp_path):
    url, marker = cluster.admin_urls[0], str(tmp_path / "ran")
    dsk = {"slow": (wait_for_signal, url, "test:forgery:release"), "out": (inc, "slow")}
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            wukong.get(dsk, "out")
        except BaseException as exc:
            outcome.append(exc)

    job = threading.Thread(target=run)
    job.start()
    admin = redis.Redis.from_url(url)
    try:
        job_id = wait_for(lambda: live_job(url))
        admin.lpush(FunctionKeys(cluster.function).queue, forged_invocation(job_id, marker))
        job.join(60)
    finally:
        admin.rpush("test:forgery:release", 1)
        admin.close()
    assert len(outcome) == 1 and isinstance(outcome[0], Unauthenticated)
    assert "invocation 'forged'" in str(outcome[0])
    assert not os.path.exists(marker)


def test_a_graph_signed_by_another_deployment_is_refused(cluster):
    dsk = {"a": (inc, 1), "b": (inc, "a")}
    plan = plan_job(cluster, to_task_graph(dsk, "b"), "b")
    store = JobStore(cluster.shards, plan.graph)
    try:
        store.upload(dumps(plan.graph, Signer.generate()))
        cluster.invoker.invoke([Invocation(job=plan.graph.job_id, task=start.tasks[0])
                                for start in plan.starts])
        entries = wait_for(lambda: store.read_log("0-0", 1000))
        failure = TaskFailure.decode(entries[0][1].data, cluster.signer, "b")
        assert isinstance(failure.exception, Unauthenticated)
        assert f"the graph of job {plan.graph.job_id!r}" in str(failure.exception)
    finally:
        store.cleanup()


def overwrite_the_output(urls: list[str], evil: bytes, _: object) -> int:
    """Overwrite the one output in Redis now (on whichever shard it is) with `evil`."""
    clients = [redis.Redis.from_url(url) for url in urls]
    try:
        ((client, key),) = [(c, k) for c in clients for k in c.scan_iter(match="wk:*:o:*")]
        client.set(key, evil, keepttl=True)
        return 2
    finally:
        for client in clients:
            client.close()


@pytest.mark.usefixtures("fan_ins_in_executors")
def test_an_output_overwritten_in_redis_is_refused(cluster, tmp_path):
    """`first` is written for the fan-in `both`, while its executor goes on down the chain
    to `second`, which overwrites it in Redis; the executor that claims `both` reads it back
    and refuses it, and the job fails naming it."""
    marker = str(tmp_path / "ran")
    evil = pickle.dumps(Boom(marker))
    dsk = {"first": (inc, 1), "mid": (inc, "first"),
           "second": (overwrite_the_output, cluster.admin_urls, evil, "mid"),
           "both": (add, "first", "second")}
    with pytest.raises(Unauthenticated, match="the output of task 'first'"):
        wukong.get(dsk, "both")
    assert not os.path.exists(marker)


def forge_streams(urls: list[str], evil: bytes) -> int:
    """Append a forged events record and a forged error to the running job's streams."""
    job = live_job(urls[0])
    client = redis.Redis.from_url(urls[job_shard(job, len(urls))])
    try:
        client.xadd(f"wk:{job}:events", {"data": evil})
        client.xadd(f"wk:{job}:log", {"kind": "error", "task": 0, "data": evil})
        return 1
    finally:
        client.close()


def test_forged_events_and_errors_are_refused(cluster, tmp_path):
    marker = str(tmp_path / "ran")
    dsk = {"forge": (forge_streams, cluster.admin_urls, pickle.dumps(Boom(marker))),
           "out": (inc, "forge")}
    with pytest.raises(Unauthenticated, match=r"an executor's events|failure reported"):
        wukong.get(dsk, "out")
    assert not os.path.exists(marker)
