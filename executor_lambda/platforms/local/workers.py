"""The dispatcher's handles on its worker processes, and the requests they run.

A worker is a process forked from the runtime's fork server that hosts the executor handler
in one of two ways: Wukong's own loop (`worker.serve`, fed through a pipe), or AWS's runtime
interface client (`runtime_host.serve`, `awslambdaric`), which pulls invocations from an
execution environment of the runtime's Lambda Runtime API (`lambda_api`); that environment
holds the other end of the same kind of pipe, so the dispatcher treats both alike: it sends
a request id and a payload down the pipe and receives the reply (`replies`) from it. Each
delivery gets a request id of its own (a duplicate's too): the executor names itself by it,
so a retry can name the delivery it replaces.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from executor_lambda.platforms.local import runtime_host, worker
from executor_lambda.platforms.local.settings import RuntimeSettings


@dataclass(slots=True)
class Request:
    """One invocation for the runtime to run."""

    payload: bytes
    respond: Callable[[bytes], None] | None = None
    """Called with the reply once it ended (a `RequestResponse` invocation's caller)."""
    reported: bool = True
    """A failure is appended to its job's log (the local platform's own invocations). Those
    made through the Invoke API are not: Lambda tells a job nothing either."""


class Environments(Protocol):
    """Execution environments of a Runtime API (see `lambda_api.LambdaApi`)."""

    def open_environment(self, conn: Any) -> str: ...

    def close_environment(self, address: str) -> None: ...


class Worker:
    """One worker process and the request it runs."""

    def __init__(self, ctx: Any, settings: RuntimeSettings,
                 environments: Environments | None = None):
        self.conn, child_conn = ctx.Pipe()
        self.current_task = ctx.Value("l", worker.IDLE, lock=False)
        self._environments = environments
        self.address = ""
        """Its Runtime API environment's address, if AWS's runtime client hosts it."""
        if environments is None:
            target, args = worker.serve, (child_conn, self.current_task, settings.function,
                                          settings.timeout, settings.memory_limit,
                                          settings.cold_start_seconds)
        else:
            self.address = environments.open_environment(child_conn)
            target, args = runtime_host.serve, (self.address, settings.memory_limit,
                                                settings.cold_start_seconds)
        self.process = ctx.Process(target=target, args=args, daemon=True)
        self.process.start()
        if environments is None:
            child_conn.close()
        self.request: Request | None = None
        """The running invocation; its payload is parsed only if it fails, so the dispatcher
        never parses the payloads it only forwards."""
        self.request_id = ""
        """The running delivery's request id."""
        self.deadline = 0.0
        self.idle_since = time.monotonic()
        self.served = 0
        """Invocations this worker finished."""

    def start(self, request: Request, timeout: float) -> None:
        self.request = request
        self.request_id = str(uuid.uuid4())
        self.deadline = time.monotonic() + timeout
        self.conn.send((self.request_id, request.payload))

    def finish(self) -> None:
        self.request = None
        self.current_task.value = worker.IDLE  # a failed invocation left its task there
        self.idle_since = time.monotonic()
        self.served += 1

    def failed_invocation(self) -> dict | None:
        """The running invocation, naming the task it was on (its first, before any ran or
        where the host does not say)."""
        if self.request is None:
            return None
        event = json.loads(self.request.payload)
        task = self.current_task.value
        return {**event, "task": event["task"] if task == worker.IDLE else task}

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()
        if self._environments is not None:
            self._environments.close_environment(self.address)
