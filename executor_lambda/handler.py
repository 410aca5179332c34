"""The function's entry point, with the signature AWS Lambda calls: `handler(event, context)`.

`event` is an `Invocation` as a dict, or a reference to one (see
`ExecutorEnvironment.invocation`). The context's `get_remaining_time_in_millis` (Lambda's,
or the local runtime's) bounds how long an output may be held at a fan-in. The optional
`context.wukong_on_task(task)` hook lets the local runtime know which task is running, so a
crash can be blamed on the right task. On a platform that reports no executor it ended (AWS
Lambda), each invocation records its start and end for its job (`liveness`). Before any
task runs, the delivery claims the invocation's start tasks and runs only those it got, so
a duplicated delivery does nothing (status "duplicate"), and holds its lease while it runs
(see `delivery`). A seeded invocation, once claimed, runs its first task while another
thread reads the job's graph (see `GraphSeed`). Tasks run with the job's `dask.config`
settings (see `task_config`). No task of a job the process heard cancelled starts
(`CancelWatch`; the loop checks at every task boundary).

An invocation or a graph whose tag is missing or wrong (see `storage_manager.signing`) is
refused before anything in it is unpickled: logged, counted, and reported on the job's log
as the named task's error, so its client fails the job with `Unauthenticated`.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future
from typing import Any

from executor_lambda import liveness
from executor_lambda.delivery import Delivery
from executor_lambda.environment import ExecutorEnvironment
from executor_lambda.failures import TaskFailure
from executor_lambda.loop import TaskLoop, TaskRun
from executor_lambda.measurement import Notices, Snapshot
from executor_lambda.remote_traceback import RemoteTraceback
from executor_lambda.task_config import job_config
from storage_manager import GraphSeed, JobGone, JobGraph, JobStore, append_log_for
from storage_manager.protocol import ERROR, Invocation, LogEntry
from storage_manager.protocol.delivery import fresh_nonce
from storage_manager.signing import Unauthenticated

logger = logging.getLogger(__name__)

_environment: ExecutorEnvironment | None = None


def environment() -> ExecutorEnvironment:
    """Built once per warm process, as Lambda reuses what module scope holds."""
    global _environment
    if _environment is None:
        _environment = ExecutorEnvironment.from_environ()
    return _environment


def warm_up() -> None:
    """Set up the process's environment and connect to the shards before the first
    invocation, as a Lambda function's init phase does. A failure is left for the first
    invocation to meet and report."""
    try:
        environment().connect()
    except Exception:
        logger.debug("warming up failed; the first invocation sets up again", exc_info=True)


def handler(event: dict, context: Any = None) -> dict:
    started_at = time.time()
    env = environment()
    try:
        invocation = env.invocation(event)
    except JobGone:
        return _gone(event)
    except Unauthenticated as exc:
        return _refused(env, event, exc)
    nonce = _delivery_nonce(env, context)
    if not env.records_itself:
        return _run(env, invocation, context, started_at, nonce)
    with liveness.recorded(env.shards, invocation,
                           getattr(context, "get_remaining_time_in_millis", None), nonce):
        return _run(env, invocation, context, started_at, nonce)


def _delivery_nonce(env: ExecutorEnvironment, context: Any) -> str:
    """What tells this delivery from the invocation's others. A platform that retries lost
    executors itself (the local runtime) names the delivery a retry replaces by its request
    id, which it makes unique per delivery; elsewhere (AWS Lambda, whose duplicates may
    share one) a fresh token, recorded as the delivery's run (`liveness`), by which the
    client names the delivery its retry replaces."""
    request_id = getattr(context, "aws_request_id", "")
    if not env.records_itself and request_id:
        return str(request_id)
    return fresh_nonce()


def _run(env: ExecutorEnvironment, invocation: Invocation, context: Any,
         started_at: float, nonce: str) -> dict:
    """Claim the invocation's start tasks (see `delivery`), then run what it got."""
    graph_read = seed = None
    if env.cancelled(invocation.job):
        return _gone(_named(invocation))
    try:
        if invocation.seed and not invocation.attempt:  # a retry looks for checkpoints first
            graph_read = env.graph_later(invocation.job)
            seed = GraphSeed.decode(invocation.seed)
            ttl_ms, lease_ms = seed.ttl_ms, seed.lease_ms
        else:
            graph = env.graph(invocation.job)
            graph_read = _done(graph)
            ttl_ms, lease_ms = graph.ttl_ms, graph.recovery.lease_ms
        delivery = Delivery.claim(env.shards, invocation, nonce, ttl_ms, lease_ms)
    except JobGone:
        return _gone(_named(invocation))
    except Unauthenticated as exc:
        return _refused(env, _named(invocation), exc)
    if delivery is None:
        return {"job": invocation.job, "task": invocation.task, "status": "duplicate"}
    with delivery.leased_while_running():
        return _run_delivery(env, delivery, context, started_at, graph_read, seed)


def _run_delivery(env: ExecutorEnvironment, delivery: Delivery, context: Any,
                  started_at: float, graph_read: Future[JobGraph],
                  seed: GraphSeed | None) -> dict:
    invocation = delivery.invocation
    on_task = getattr(context, "wukong_on_task", None)
    first = notices = None
    try:
        if seed is not None:
            if on_task is not None:
                on_task(seed.task)
            if seed.notices:
                notices = _notices_before_graph(env, graph_read, invocation, started_at)
                notices.started(seed.task)
            with job_config(seed.config):
                first = TaskRun.of(seed.task, seed.node_and_inputs, env.gil_probe)
        graph = graph_read.result()
    except JobGone:
        if notices is not None:
            notices.close()
        return _gone(_named(invocation))
    except Unauthenticated as exc:
        return _refused(env, _named(invocation), exc)
    store = JobStore(env.shards, graph, owner=delivery.owner)
    store.leased = delivery.leased
    claim = Snapshot(delivery.claim_seconds, delivery.claim_round_trips, 0, 0)
    store.stats.round_trips += claim.round_trips
    store.stats.seconds += claim.seconds
    pool = env.task_pool(invocation.threads) if invocation.threads > 1 else None
    loop = TaskLoop(store, env.invoker, invocation, on_task,
                    getattr(context, "get_remaining_time_in_millis", None), first, started_at,
                    pool, env.gil_probe, notices, env.task_pool, claim,
                    cancelled=lambda: env.cancelled(invocation.job))
    with job_config(graph.config):
        loop.run()
    return {"job": invocation.job, "task": invocation.task, "status": "ok"}


def _done(graph: JobGraph) -> Future[JobGraph]:
    read: Future[JobGraph] = Future()
    read.set_result(graph)
    return read


def _named(invocation: Invocation) -> dict:
    return {"job": invocation.job, "task": invocation.task, "id": invocation.id}


def _notices_before_graph(env: ExecutorEnvironment, graph_read: Future[JobGraph],
                          invocation: Invocation, started_at: float) -> Notices:
    """Notices for an invocation whose first task runs before its graph is read: they ship
    once it is."""
    return Notices(lambda record: JobStore(env.shards, graph_read.result()).append_events(record),
                   invocation, started_at, env.shards.signer)


def report_refusal(env: ExecutorEnvironment, event: dict, exc: Unauthenticated) -> None:
    """Fail the job the refused event names, if it is running, with `exc` as the error of
    the task it names (an event naming no job or task only stays refused and logged)."""
    job, task = event.get("job"), event.get("task")
    if not isinstance(job, str) or not isinstance(task, int):
        return
    failure = TaskFailure(exc, RemoteTraceback(), str(event.get("id", "")))
    try:
        append_log_for(env.shards, job, LogEntry(ERROR, task, failure.encode(env.shards.signer)))
    except Exception:  # the refusal is logged and counted already
        logger.exception("could not report the refused invocation to job %s", job)


def _gone(event: dict) -> dict:
    logger.debug("job %s is gone; invocation %s does nothing", event["job"], event["id"])
    return {"job": event["job"], "task": event["task"], "status": "gone"}


def _refused(env: ExecutorEnvironment, event: dict, exc: Unauthenticated) -> dict:
    report_refusal(env, event, exc)
    return {"job": event.get("job"), "task": event.get("task"), "status": "refused"}
