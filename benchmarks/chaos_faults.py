"""Faults injected into a running cluster from outside, and one job run under one of them:
shared by the chaos tests (`tests/test_chaos.py`) and `python -m benchmarks.chaos`.

Faults (`FAULTS`):
- `kill`: SIGKILL of a worker process of the local runtime that is running an invocation
  (the fork server's children, found in /proc; a worker whose main thread waits on its pipe
  from the runtime is idle and spared);
- `proxy`: SIGKILL of the KV proxy's process (the client starts a new one when it checks
  the cluster; the new one takes over the batches the dead one held);
- `shard`: one Redis shard restarted empty (`RedisServer.restart`);
- `cancel`: `wukong.cancel` of the job from another thread.
Duplicate delivery is a property of a cluster, not an event: `chaos_cluster` starts one
whose runtime delivers every invocation twice (`duplicate` in the chaos runs). Tasks
with a side effect to count (`sleeping_tree`, `repeats`) tell whether any ran twice.

`run_job` runs one job in a thread, injects its fault once the job runs, and classifies how
it ended (`Outcome`): correct (the value dask's sync scheduler computes), failed with a
clear error (`CLEAR_ERRORS`: the job cannot finish and says why), or not (hung: still
running at the deadline or stopped by the job timeout; wrong; unclear). The job's keys left
on the shards are counted after it ends.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import dask
import psutil
import redis

import wukong
from benchmarks import random_dag
from executor_lambda import ExecutorDied
from executor_lambda.platforms.local.settings import ENV_DUPLICATE_DELIVERY
from storage_manager import ShardLost

FAULTS = ("kill", "proxy", "shard", "cancel")
CLEAR_ERRORS = {ShardLost: "redis shard", wukong.JobCancelled: "cancelled",
                ExecutorDied: "task "}
"""What a job may fail with under a fault, and what its message must say (in any case): the
shard, that the job was cancelled, the task."""
POLL_SECONDS = 0.005
PROXY_THRESHOLD = 2
"""The chaos clusters hand batches this large to the KV proxy."""
IDLE_WAIT = "unix"
"""A worker whose main thread sleeps in the kernel's unix-socket read (`/proc/PID/wchan`)
waits for its next invocation on the runtime's pipe."""


def runtime_workers(cluster: wukong.LocalCluster) -> list[psutil.Process]:
    """The runtime's live worker processes: the children of its fork server, less those
    that died and wait to be reaped (a zombie is no worker, though the fork server still
    lists it for a moment)."""
    try:
        runtime = psutil.Process(cluster.runtime.process.pid)
        workers = [worker for child in runtime.children()
                   if "forkserver" in " ".join(child.cmdline())
                   for worker in child.children()]
    except psutil.Error:
        return []
    return [worker for worker in workers if _alive(worker)]


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def busy(worker: psutil.Process) -> bool:
    """Running an invocation, as far as /proc tells (every live worker, where the kernel
    does not say where its processes wait)."""
    try:
        with open(f"/proc/{worker.pid}/wchan") as f:
            wchan = f.read().strip()
    except OSError:  # gone
        return False
    return IDLE_WAIT not in wchan


def busy_workers(cluster: wukong.LocalCluster) -> list[psutil.Process]:
    """The runtime's workers running an invocation now."""
    return [w for w in runtime_workers(cluster) if busy(w)]


def kill_executor(cluster: wukong.LocalCluster, rng: random.Random,
                  running: Callable[[], bool]) -> bool:
    """SIGKILL a random busy worker, waiting for one while `running()`; whether one died."""
    while running():
        workers = busy_workers(cluster)
        if workers:
            try:
                os.kill(rng.choice(workers).pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            return True
        time.sleep(POLL_SECONDS)
    return False


def kill_proxy(cluster: wukong.LocalCluster) -> bool:
    """SIGKILL the KV proxy's process, as a crash would; whether there was one."""
    proxy = cluster.proxy
    if proxy is None or not proxy.alive():
        return False
    proxy.process.send_signal(signal.SIGKILL)
    return True


def restart_shard(cluster: wukong.LocalCluster, rng: random.Random) -> bool:
    """Restart a random shard of the cluster's own, empty."""
    if not cluster.redis_servers:
        return False
    rng.choice(cluster.redis_servers).restart()
    return True


def cancel_job(job_id: str | None) -> bool:
    return bool(job_id) and bool(wukong.cancel(job_id))


@contextlib.contextmanager
def chaos_cluster(shards: int = 2, duplicate: bool = False) -> Iterator[wukong.LocalCluster]:
    """A LocalCluster for chaos runs, closed at the block's end: every batch of
    `PROXY_THRESHOLD` invocations or more goes through the KV proxy (so small DAGs use it
    too); with `duplicate`, its runtime delivers every invocation of its queue twice, as
    Lambda's at-least-once delivery may."""
    previous = os.environ.get(ENV_DUPLICATE_DELIVERY)
    if duplicate:
        os.environ[ENV_DUPLICATE_DELIVERY] = "1"
    try:
        with dask.config.set({"wukong.proxy.fanout-threshold": PROXY_THRESHOLD}):
            cluster = wukong.LocalCluster(shards=shards)
    finally:
        if previous is None:
            os.environ.pop(ENV_DUPLICATE_DELIVERY, None)
        else:
            os.environ[ENV_DUPLICATE_DELIVERY] = previous
    with cluster:
        yield cluster


def sleeper(directory: str, name: str, seconds: float, *inputs: int) -> int:
    """A task with a side effect: a line appended to its own file, then a sleep; 1 for a
    leaf, else the sum of its inputs."""
    with open(os.path.join(directory, name), "a") as f:
        f.write("ran\n")
    time.sleep(seconds)
    return sum(inputs) if inputs else 1


def sleeping_tree(leaves: int, seconds: float, directory: pathlib.Path) -> tuple[dict, str]:
    """A tree reduction of sleepers (pairs summed; `2 * leaves - 1` tasks for a power of 2)
    and its root's key. Its value is `leaves`; a task's file is named `file KEY` (a name
    that is not a key, which Dask would read as a reference)."""
    dsk: dict = {}
    level = [f"leaf-{i}" for i in range(leaves)]
    for key in level:
        dsk[key] = (sleeper, str(directory), f"file {key}", seconds)
    depth = 0
    while len(level) > 1:
        depth += 1
        pairs = [level[i:i + 2] for i in range(0, len(level), 2)]
        level = [f"sum-{depth}-{j}" for j in range(len(pairs))]
        for key, pair in zip(level, pairs, strict=True):
            dsk[key] = (sleeper, str(directory), f"file {key}", seconds, *pair)
    return dsk, level[0]


def started(directory: pathlib.Path) -> int:
    """How many of the tasks have started (each has a file once it did)."""
    return len(os.listdir(directory))


def repeats(directory: pathlib.Path) -> int:
    """Side effects beyond the first of each task: runs that repeated one."""
    return sum(len(p.read_text().splitlines()) - 1 for p in directory.iterdir())


@dataclass(frozen=True)
class Outcome:
    fault: str
    """The fault asked for (`none` for a fault-free run)."""
    injected: bool
    """It struck while the job ran."""
    result: str
    """`correct`, `failed` (a clear error), `hung`, `wrong` or `unclear`."""
    error: str
    """The error the job failed with (type: message), or ''."""
    seconds: float
    keys_left: int
    """The job's keys left on the shards after it ended."""


def job_keys(cluster: wukong.LocalCluster) -> int:
    """Job keys (`wk:{job}:*`) on the shards that answer."""
    found = 0
    for url in cluster.admin_urls:
        client = redis.Redis.from_url(url, socket_timeout=5)
        try:
            found += sum(1 for k in client.scan_iter(match="wk:*", count=1000)
                         if not k.startswith(b"wk:fn:"))
        except redis.RedisError:
            pass
        finally:
            client.close()
    return found


def classify(value: object, error: BaseException | None, expected: object, done: bool) -> str:
    """How a job ended: see `Outcome.result`."""
    if not done or isinstance(error, wukong.JobTimeout):
        return "hung"
    if error is not None:
        clear = any(isinstance(error, kind) and says in str(error).lower()
                    for kind, says in CLEAR_ERRORS.items())
        return "failed" if clear else "unclear"
    return "correct" if value == expected else "wrong"


def expected_value(nodes: list[random_dag.Node]) -> object:
    return dask.compute(*random_dag.collection(nodes), scheduler="sync")


def run_job(cluster: wukong.LocalCluster, nodes: list[random_dag.Node], fault: str,
            rng: random.Random, timeout: float = 60.0, delay: float = 0.1,
            expected: object = None) -> Outcome:
    """Run the DAG `nodes` on `cluster`, inject `fault` (or `none`) a random time within
    `delay` seconds of the job's start, wait for its end (the job timeout is `timeout`,
    the thread is given twice that) and classify it."""
    if fault not in ("none", *FAULTS):
        raise ValueError(f"unknown fault {fault!r}: none or one of {', '.join(FAULTS)}")
    expected = expected_value(nodes) if expected is None else expected
    before = set(wukong.running_jobs())
    ended: dict = {}

    def job() -> None:
        try:
            ended["value"] = dask.compute(*random_dag.collection(nodes), scheduler=cluster.get)
        except BaseException as exc:
            ended["error"] = exc

    thread = threading.Thread(target=job, name="chaos-job", daemon=True)
    start = time.perf_counter()
    with dask.config.set({"wukong.client.job-timeout": timeout}):
        thread.start()
        injected = fault != "none" and inject(cluster, fault, rng, thread, before, delay)
        thread.join(2 * timeout)
    seconds = time.perf_counter() - start
    cluster.check_alive()  # a killed proxy is started again for the next job
    error = ended.get("error")
    result = classify(ended.get("value"), error, expected, not thread.is_alive())
    return Outcome(fault, injected, result, f"{type(error).__name__}: {error}" if error else "",
                   seconds, job_keys(cluster))


def inject(cluster: wukong.LocalCluster, fault: str, rng: random.Random,
           thread: threading.Thread, before: set[str], delay: float) -> bool:
    """Wait for the job to run, then a random part of `delay`; strike if it still runs."""
    job_id = None
    while thread.is_alive() and job_id is None:
        job_id = next(iter(set(wukong.running_jobs()) - before), None)
        time.sleep(POLL_SECONDS)
    time.sleep(rng.uniform(0, delay))
    if not thread.is_alive():
        return False
    if fault == "kill":
        return kill_executor(cluster, rng, thread.is_alive)
    if fault == "proxy":
        return kill_proxy(cluster)
    if fault == "shard":
        return restart_shard(cluster, rng)
    return cancel_job(job_id)
