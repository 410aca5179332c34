"""One worker process: receives invocations on a pipe and runs the handler, one at a time.

The dispatcher owns the process; the worker only reports which task it is on (in shared
memory, free to write) and how an invocation ended: the handler's result or its error, as
Lambda's Runtime API is told them (`replies`).
"""

from __future__ import annotations

import gc
import json
import logging
import resource
import time
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized

from executor_lambda.platforms.local import replies
from storage_manager.protocol import log_records

logger = logging.getLogger(__name__)

IDLE = -1


class LocalContext:
    """The parts of Lambda's context object the handler uses, plus the task hook."""

    def __init__(self, request_id: str, function_name: str, deadline: float,
                 current_task: Synchronized):
        self.aws_request_id = request_id
        self.function_name = function_name
        self._deadline = deadline
        self._current_task = current_task

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))

    def wukong_on_task(self, task: int) -> None:
        self._current_task.value = task


def serve(conn: Connection, current_task: Synchronized, function: str, timeout: float,
          memory_limit: int | None, cold_start_seconds: float = 0.0) -> None:
    """The worker's main loop; returns when the dispatcher closes the pipe.

    Under the latency model a new worker first waits `cold_start_seconds`, in its own
    process, so cold starts happen in parallel as they do on a real platform."""
    from executor_lambda.handler import handler, warm_up

    log_records.configure("executor")
    gc.freeze()  # the preloaded modules' objects: never worth a full collection's scan
    if memory_limit:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    if cold_start_seconds > 0:
        time.sleep(cold_start_seconds)
    warm_up()
    while True:
        try:
            request_id, payload = conn.recv()
        except (EOFError, OSError):
            return
        event = json.loads(payload)
        context = LocalContext(request_id, function, time.time() + timeout, current_task)
        try:
            reply = replies.result(json.dumps(handler(event, context)).encode())
            current_task.value = IDLE
        except BaseException as exc:  # current_task still names the task that raised
            logger.exception("invocation %s failed", event.get("id"))
            reply = replies.error_of(exc)
        conn.send_bytes(reply)
