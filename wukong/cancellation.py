"""Cancelling a job: `wukong.cancel()`, a job timeout, or Ctrl-C in `compute`.

    threading.Thread(target=lambda: x.compute(scheduler="wukong")).start()
    wukong.cancel()          # every job this process runs; wukong.cancel(job_id): that one

What a cancel does, in order:
1. publish the job's id on the function's cancel channel: warm executors that hear it start
   no task of the job from their next task boundary (`executor_lambda.cancel_watch`);
   on a cluster whose local runtime serves the function's queue, push a cancel record onto
   the queue's taking end (`storage_manager.protocol.cancel`): the runtime kills the workers
   running the job's invocations (their tasks stop where they are), drops its invocations
   waiting or arriving later, and appends a `CANCELLED`/`STOPPED` entry to the job's log;
2. the client waits for that entry, at most `STOP_WAIT_SECONDS`, then cleans up as after
   any job: the live flag goes first on every shard, so an executor still running (on
   Lambda, where nothing can be killed) has its next step refused and stops there.

So on the local runtime no task of the job starts after the client gets control back; on
Lambda an executor finishes the task it is running and starts no other once it heard the
cancel (or, if it did not, after its next step). The job's `compute` raises `JobCancelled`
(a job timeout: `JobTimeout`; Ctrl-C: the `KeyboardInterrupt`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import redis

from storage_manager import JobStore, StreamId, append_log_for
from storage_manager.protocol import CANCELLED, STOPPED, FunctionKeys, LogEntry, cancel_record
from wukong.cluster_protocol import Cluster

logger = logging.getLogger(__name__)

STOP_WAIT_SECONDS = 1.0
"""Longest wait for the runtime to say it stopped a cancelled job's executors."""


class JobCancelled(Exception):
    """The job was cancelled (`wukong.cancel`) before it finished."""


class Cancellable(Protocol):
    job_id: str

    def cancel(self) -> None: ...


_lock = threading.Lock()
_running: dict[str, Cancellable] = {}


def running_jobs() -> list[str]:
    """The ids of the jobs this process is running now."""
    with _lock:
        return list(_running)


def cancel(job_id: str | None = None) -> list[str]:
    """Cancel the job `job_id` names (see `running_jobs`), else every job this process runs;
    the ids of those cancelled. Each one's `compute` raises `JobCancelled`."""
    with _lock:
        runs = [run for job, run in _running.items() if job_id in (None, job)]
    for run in runs:
        run.cancel()
    return [run.job_id for run in runs]


def started(run: Cancellable) -> None:
    with _lock:
        _running[run.job_id] = run


def ended(run: Cancellable) -> None:
    with _lock:
        _running.pop(run.job_id, None)


def stop_executors(cluster: Cluster, job_id: str) -> None:
    """Tell the cluster's runtime to stop the job (if a runtime serves it), and wake the
    job's follower with a `CANCELLED` entry on its log."""
    try:
        client = cluster.shards.shards[0].quick  # a lost shard fails at once
        client.publish(FunctionKeys(cluster.function).cancel, job_id)
        if cluster.runtime_serves_queue:
            client.rpush(FunctionKeys(cluster.function).queue,
                         cancel_record(job_id, cluster.shards.signer))
        append_log_for(cluster.shards, job_id, LogEntry(CANCELLED, -1))
    except redis.RedisError as exc:
        logger.warning("job %s: could not reach Redis to cancel it: %s", job_id, exc)


def await_stopped(cluster: Cluster, store: JobStore, after: StreamId) -> None:
    """Wait (at most `STOP_WAIT_SECONDS`) for the runtime's word that the job's executors
    are stopped, reading the log after `after`."""
    if not cluster.runtime_serves_queue:
        return
    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        try:
            entries = store.read_log(after, max(1, int(left * 1000)))
        except redis.RedisError as exc:
            logger.warning("job %s: %s while waiting for its executors to stop",
                           store.graph.job_id, exc)
            return
        for entry_id, entry in entries:
            after = entry_id
            if entry.kind == CANCELLED and entry.data == STOPPED:
                return
    logger.warning("job %s: the runtime did not confirm that its executors stopped within "
                   "%g s", store.graph.job_id, STOP_WAIT_SECONDS)
