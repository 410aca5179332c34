"""Fixtures: one real LocalCluster (two redis-server shards, the local runtime) per session.

After every test, no job keys may remain in any shard: cleanup is part of the contract.
Helpers the test modules import: waiting for processes to go, listing job keys, and a small
job graph (`job`, `idx`) for the unit tests of the scheduler, the step script and seeds. The
test of Dask's own suites (tests/dask_suites) leaves its per-module table in
`DASK_SUITES_SUMMARY`, shown at the end of the session.
"""

from __future__ import annotations

import os
import time
from operator import add

import cloudpickle
import dask
import psutil
import pytest
import redis
from dask.utils_test import inc

import wukong
from static_scheduler import build_job_graph, to_task_graph


def pytest_collection_modifyitems(items):
    """Executors cannot import test modules, so functions defined in them travel by value."""
    for module in {item.module for item in items if getattr(item, "module", None)}:
        cloudpickle.register_pickle_by_value(module)


DASK_SUITES_SUMMARY = pytest.StashKey[str]()


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    table = config.stash.get(DASK_SUITES_SUMMARY, None)
    if table:
        terminalreporter.write_sep("-", "Dask's own test suites under Wukong")
        terminalreporter.write_line(table)


@pytest.fixture(scope="session")
def cluster():
    with wukong.LocalCluster(shards=2) as c:
        yield c


@pytest.fixture
def one_executor_per_leaf():
    """The paper's schedule: no cheap-task batching nor grouping of leaves nor work queue,
    whatever durations and sizes earlier tests taught the session's cluster. For tests of
    where tasks run in that schedule."""
    with dask.config.set({"wukong.scheduling.batch-cheap-tasks": False,
                          "wukong.scheduling.work-queue": False,
                          "wukong.locality.grouping": False}):
        yield


@pytest.fixture
def fan_ins_in_executors():
    """Every task runs in an executor, requested end fan-ins too (the client runs those by
    default). For tests of how executors meet at fan-ins and what they report."""
    with dask.config.set({"wukong.scheduling.client-finalize": False}):
        yield


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Credentials and a region for boto3 that reach no AWS account: for moto and for the
    tests' own stand-ins of Lambda's APIs; and deployments' signing keys kept in a
    temporary directory."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_LAMBDA", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with dask.config.set({"wukong.security.key-file": str(tmp_path / "deployment.key")}):
        yield


def job_keys(urls: list[str]) -> list[bytes]:
    found = []
    for url in urls:
        client = redis.Redis.from_url(url)
        found += [k for k in client.scan_iter(match="wk:*", count=1000)
                  if not k.startswith(b"wk:fn:")]
        client.close()
    return found


@pytest.fixture(autouse=True)
def no_job_keys_left(request):
    yield
    if "cluster" in request.fixturenames:
        c = request.getfixturevalue("cluster")
        assert job_keys(c.admin_urls) == [], "a job left keys in Redis"


def running(p: psutil.Process) -> bool:
    """Alive, or a zombie whose other threads are still exiting: its files (a worker's pipe)
    stay open until the last thread is gone. A zombie with none left is dead, waiting to be
    reaped (orphans like the fork server are reaped by init, some time after they exit)."""
    try:
        if not p.is_running():
            return False
        if p.status() != psutil.STATUS_ZOMBIE:
            return True
        return len(os.listdir(f"/proc/{p.pid}/task")) > 1
    except (psutil.NoSuchProcess, FileNotFoundError):
        return False


def wait_for(condition, timeout: float = 60.0, poll: float = 0.01):
    """Wait until `condition()` is truthy and return what it returned; fail the test
    after `timeout` seconds. Tests wait for a state, never for a time."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(poll)
    return found


def wait_until_gone(procs: list[psutil.Process], timeout: float = 15.0) -> list[psutil.Process]:
    """Wait for processes that were told to stop; those still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while (alive := [p for p in procs if running(p)]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return alive


# -- a small job graph for unit tests of the scheduler, the step script and seeds ------------

TTL_MS = 60_000

# d is a value; a and b read it; c joins them (a fan-in); e follows c; f follows a.
DSK = {"d": 1, "a": (inc, "d"), "b": (inc, "d"), "c": (add, "a", "b"), "e": (inc, "c"),
       "f": (inc, "a"), "unused": (inc, "f"), "z": 5}


def job(job_id="job1", keys=("e", "f"), num_shards=2, dsk=DSK):
    tasks = to_task_graph(dsk, list(keys))
    return build_job_graph(job_id, tasks, keys, num_shards, TTL_MS)


def idx(graph, key):
    return graph.keys.index(key)


def lambda_on_this_machine(**settings) -> wukong.LocalCluster:
    """Redis shards and a local runtime that serves AWS Lambda's Invoke and Runtime APIs, with
    a KV proxy that invokes through them (the caller closes it)."""
    with dask.config.set({"wukong.runtime.lambda-api": True, **settings}):
        return wukong.LocalCluster(shards=2)


def lambda_client_settings(cluster: wukong.LocalCluster, key_dir) -> dict:
    """The settings of a client that sends jobs to `cluster`'s Lambda APIs as to a deployed
    function (`wukong.platform: aws`), signing with its key, kept in a file in `key_dir` as
    `wukong deploy` keeps a deployment's."""
    key_file = key_dir / f"{cluster.function}.key"
    if not key_file.exists():
        key_file.write_text(cluster.signer.to_text())
        key_file.chmod(0o600)
    return {"wukong.platform": "aws", "wukong.aws.function": cluster.function,
            "wukong.redis.urls": cluster.redis_urls,
            "wukong.aws.endpoint-url": cluster.lambda_api_url,
            "wukong.security.key-file": str(key_file)}
