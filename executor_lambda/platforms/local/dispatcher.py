"""The local runtime's core: takes invocations off the function's Redis list, or from the
Lambda Invoke API it may serve (`lambda_api`, through `submit`), and hands each to a warm
worker process, starting workers on demand up to the concurrency limit.

State machine per worker: idle -> busy (an invocation) -> idle, or -> gone (it died, timed out,
or stayed idle too long). A worker that dies or times out never leaves a client hanging: the
runtime delivers its invocation again (`redelivery`), up to its retries, and then appends an
error naming the running task to the job's log (for the invocations of its own queue; a
`RequestResponse` caller of the Invoke API gets Lambda's function error). With
`duplicate_delivery` (for tests and chaos) every invocation of its queue is delivered twice,
as Lambda may.

Admission: at most `Admission.cap` invocations run at once (see `admission`). As many
workers as the cap starts with (the cores) are started with the runtime and wait idle, as
a Dask distributed cluster starts its workers with it: a first job does not wait for them
to fork. Once a worker died, one more is kept started and idle while invocations run (a
standby, see `_keep_standby`), so the next death's retry starts at once. Neither under the
latency model (`cold_start_seconds`), which gives every worker a Lambda cold start, as
Lambda without provisioned concurrency does.

Cancellation (see `cancels`): a cancel record on the queue stops the job's running workers
(killed, unreported) and drops its invocations; then the runtime tells the job's client.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import Connection, wait

import redis

from executor_lambda.failures import ExecutorDied, TaskFailure
from executor_lambda.platforms.local import replies
from executor_lambda.platforms.local.admission import Admission
from executor_lambda.platforms.local.cancels import Cancels
from executor_lambda.platforms.local.redelivery import Redeliveries
from executor_lambda.platforms.local.settings import RuntimeSettings
from executor_lambda.platforms.local.workers import Environments, Request, Worker
from executor_lambda.remote_traceback import RemoteTraceback
from storage_manager import ShardSet, append_log_for
from storage_manager.connections import redis_client
from storage_manager.protocol import CANCELLED, ERROR, STOPPED, FunctionKeys, LogEntry
from storage_manager.shards import SOCKET_TIMEOUT_SECONDS

logger = logging.getLogger(__name__)

INTAKE_BATCH = 512
INTAKE_BLOCK_SECONDS = 1.0
RECONNECT_SECONDS = 0.2
"""How often the intake tries the queue's shard again while it cannot be reached."""
ENV_RUNTIME_REDIS_URLS = "WUKONG_RUNTIME_REDIS_URLS"
"""The shards' URLs as the runtime's own user (its workers get the executors', see
`ExecutorSettings`); unset: the same as the workers'."""


class Dispatcher:
    def __init__(self, settings: RuntimeSettings):
        self.settings = settings
        self.shards = ShardSet(settings.redis_urls, settings.signer, settings.tls)
        self.queue = FunctionKeys(settings.function).queue
        self.pending: deque[Request] = deque()
        self.environments: Environments | None = None
        """Where workers hosted by AWS's runtime interface client pull their invocations."""
        self.idle: list[Worker] = []
        self.busy: dict[Connection, Worker] = {}
        self.running = True
        self.admission = Admission(settings.concurrency)
        self.cancels = Cancels(settings.signer)
        self._wake_r, self._wake_w = os.pipe()
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(["executor_lambda.platforms.local.preload",
                                          *settings.preload])
        self.started = 0
        self.redeliveries = Redeliveries(settings.signer)
        self._copies = 2 if settings.duplicate_delivery else 1
        self._standby = False
        """A worker was lost: keep a standby (see `_keep_standby`)."""

    # -- intake ----------------------------------------------------------------------------
    def _intake(self) -> None:
        """Move invocations from Redis into memory; a thread, so the main loop never polls.
        While the queue's shard cannot be reached (it restarts) the thread retries, every
        `RECONNECT_SECONDS`, and takes the queue again once the shard is back: jobs running
        meanwhile fail on the client, which watches the shards; the next job runs."""
        client = redis_client(self.settings.redis_urls[0], self.settings.tls,
                              socket_timeout=SOCKET_TIMEOUT_SECONDS)
        lost = False
        while self.running:
            try:
                got = client.blmpop(INTAKE_BLOCK_SECONDS, 1, self.queue, direction="RIGHT",
                                    count=INTAKE_BATCH)
            except redis.RedisError as exc:
                if not lost:
                    logger.warning("lost the invocation queue's shard (%s); retrying", exc)
                lost = True
                time.sleep(RECONNECT_SECONDS)
                continue
            if lost:
                logger.warning("the invocation queue's shard is back")
                lost = False
            if got:
                for payload in got[1]:
                    if not self.cancels.take(payload):
                        self.pending.extend(Request(payload) for _ in range(self._copies))
                os.write(self._wake_w, b"!")

    def submit(self, request: Request, first: bool = False) -> None:
        """Run `request` (from another thread); `first`: before every waiting one."""
        if first:
            self.pending.appendleft(request)
        else:
            self.pending.append(request)
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    # -- the main loop ---------------------------------------------------------------------
    def serve_forever(self, on_ready=None) -> None:
        warm_up = self._ctx.Process(target=int)  # starts the fork server and its preload
        warm_up.start()
        warm_up.join()
        if not self.settings.cold_start_seconds:
            self._start_idle(min(self.admission.cap, self.settings.concurrency))
        threading.Thread(target=self._intake, name="intake", daemon=True).start()
        if on_ready is not None:
            on_ready()
        try:
            while self.running:
                self._stop_cancelled()
                self._assign()
                self._keep_standby()
                saturated = self.admission.full(len(self.busy), len(self.pending))
                timeout = self._next_timeout()
                if saturated:
                    timeout = min(timeout, self.admission.open_window(self._judged_pids()))
                finished = self._wait(timeout)
                if finished:
                    self.admission.finished()
                elif saturated:
                    self.admission.stalled(len(self.busy), len(self.pending))
                if not self.busy and not self.pending:
                    self.admission.idle()
                self._expire()
        finally:
            self._shutdown()

    def counts(self) -> dict[str, int]:
        """What it is doing now (read from any thread): invocations running and waiting,
        workers idle and started so far, and the admission cap."""
        return {"busy": len(self.busy), "pending": len(self.pending), "idle": len(self.idle),
                "started": self.started, "cap": self.admission.cap}

    def stop(self, *_: object) -> None:
        self.running = False
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"!")

    def _start_idle(self, workers: int) -> None:
        """Start `workers` workers that wait idle for invocations."""
        self.idle += [self._new_worker() for _ in range(workers)]

    def _new_worker(self) -> Worker:
        self.started += 1
        return Worker(self._ctx, self.settings, self.environments)

    def _assign(self) -> None:
        while self.pending and len(self.busy) < self.admission.cap:
            # the most recently used idle worker: its caches are warmest
            w = self.idle.pop() if self.idle else self._new_worker()
            request = self.pending.popleft()
            if self.cancels.covers(request.payload):
                self._drop(request)
                continue
            try:
                w.start(request, self.settings.timeout)
            except OSError:  # it died while idle (e.g. the OOM killer): use another
                logger.warning("worker %s died while idle", w.process.pid)
                self.pending.appendleft(request)
                w.kill()
                continue
            self.busy[w.conn] = w

    def _keep_standby(self) -> None:
        """Once a worker was lost, keep one worker started and idle while invocations run, so
        the next invocation delivered again after a death starts at once, not after a fork
        and a warm-up. It is the last idle worker to be used (`_assign` takes the most
        recently used first). Never before a death (a fault-free job forks nothing more),
        nor under the latency model, where every worker starts cold."""
        if self._standby and self.busy and not self.idle and not self.settings.cold_start_seconds:
            self.idle.insert(0, self._new_worker())

    def _stop_cancelled(self) -> None:
        """Kill the workers running jobs just cancelled (their tasks stop where they are),
        then tell each job's client; their waiting invocations `_assign` drops."""
        jobs = self.cancels.take_new()
        if not jobs:
            return
        for w in [w for w in self.busy.values() if self.cancels.covers(w.request.payload)]:
            del self.busy[w.conn]
            request = w.request
            w.kill()
            self.redeliveries.finished(request.payload)
            self._drop(request)
        for job in jobs:
            try:
                append_log_for(self.shards, job, LogEntry(CANCELLED, -1, STOPPED))
            except redis.RedisError as exc:
                logger.warning("could not tell job %s's client it is stopped: %s", job, exc)

    @staticmethod
    def _drop(request: Request) -> None:
        if request.respond is not None:
            request.respond(replies.error("Cancelled", "the job was cancelled"))

    def _judged_pids(self) -> list[int]:
        """The busy workers admission judges: those past their first invocation, if any."""
        warm = [w.process.pid for w in self.busy.values() if w.served]
        return warm or [w.process.pid for w in self.busy.values()]

    def _next_timeout(self) -> float:
        now = time.monotonic()
        deadlines = [w.deadline for w in self.busy.values()]
        deadlines += [w.idle_since + self.settings.idle_timeout for w in self.idle]
        return max(0.0, min(deadlines, default=now + 1.0) - now)

    def _wait(self, timeout: float) -> int:
        """Wait for news; the number of invocations that finished."""
        sentinels = {w.process.sentinel: w for w in self.busy.values()}
        ready = wait([self._wake_r, *self.busy, *sentinels], timeout)
        finished = 0
        for obj in ready:
            if obj == self._wake_r:
                os.read(self._wake_r, 65536)
            elif isinstance(obj, Connection) and obj in self.busy:
                finished += 1
                self._finished(self.busy[obj])
        for obj in ready:
            w = sentinels.get(obj) if isinstance(obj, int) else None
            if w is not None and w.conn in self.busy and not w.process.is_alive():
                finished += 1
                self._lost(w, f"died with exit code {w.process.exitcode}", replies.EXITED)
        return finished

    def _finished(self, w: Worker) -> None:
        try:
            reply = w.conn.recv_bytes()
        except (EOFError, OSError):
            return  # the sentinel reports the death
        del self.busy[w.conn]
        request, event = w.request, None
        if replies.failed(reply) and request.reported:
            event = w.failed_invocation()
        self.redeliveries.finished(request.payload)
        w.finish()
        self.idle.append(w)
        if request.respond is not None:
            request.respond(reply)
        if event is not None:
            self._report(event, f"raised outside user code:\n{replies.describe(reply)}.")

    def _expire(self) -> None:
        now = time.monotonic()
        for w in [w for w in self.busy.values() if w.deadline <= now]:
            self._lost(w, f"timed out after {self.settings.timeout:g} s "
                          "(wukong.runtime.invocation-timeout)", replies.TIMED_OUT)
        for w in [w for w in self.idle if now - w.idle_since >= self.settings.idle_timeout]:
            self.idle.remove(w)
            w.kill()

    def _lost(self, w: Worker, why: str, error_type: str) -> None:
        del self.busy[w.conn]
        request, event = w.request, w.failed_invocation()
        w.kill()
        self._standby = True
        if request is not None and request.respond is not None:
            request.respond(replies.error(error_type, f"the execution environment {why}"))
        if event is None or not request.reported:
            return
        again = self.redeliveries.again(request.payload, why, int(event["task"]),
                                        w.request_id)
        if again is not None:
            logger.info("job %s: executor %s %s; delivering it again", event["job"],
                        event["id"], why)
            self.pending.appendleft(Request(again))
        else:
            self._report(event, why + "." + self.redeliveries.spent(event["id"]))

    def _report(self, event: dict, why: str) -> None:
        """Tell the job's client that its executor is gone (its retries spent)."""
        message = f"Executor {event['id']} (invocation of task {event['task']}) {why}"
        logger.warning("job %s: %s", event["job"], message)
        failure = TaskFailure(ExecutorDied(message), RemoteTraceback(), event["id"])
        entry = LogEntry(ERROR, int(event["task"]), failure.encode(self.shards.signer))
        try:
            append_log_for(self.shards, event["job"], entry)
        except redis.RedisError:
            logger.exception("could not report the failure of job %s", event["job"])

    def _shutdown(self) -> None:
        workers = [*self.idle, *self.busy.values()]
        for w in workers:  # signal all before joining any, so their exits overlap
            with contextlib.suppress(ProcessLookupError):
                w.process.kill()
        for w in workers:
            w.kill()
        self.shards.close()


def install_signal_handlers(dispatcher: Dispatcher) -> None:
    signal.signal(signal.SIGTERM, dispatcher.stop)
    signal.signal(signal.SIGINT, dispatcher.stop)
