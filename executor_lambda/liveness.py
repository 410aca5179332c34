"""What an executor tells its job on a platform that would not (AWS Lambda): Lambda ends an
invocation that runs past its timeout, runs out of memory or crashes without a word to the
job, so its client would wait forever.

So each delivery of an invocation there records on the job's `running` stream that it
started, with the time it has left and its payload, and that it ended (`RunningRecord`); the
client reads them while the job is quiet (`wukong.executor_watch`) and, once a delivery that
started is past its deadline and never ended, delivers the invocation again, or fails the
job naming the task when its retries are spent. An exception the handler raises outside the
tasks (a task's own is the job's result) is appended to the job's log at once, naming the
task, and raised again, so that Lambda reports it as the function's error too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

import redis

from executor_lambda.failures import ExecutorDied, TaskFailure
from executor_lambda.remote_traceback import RemoteTraceback
from storage_manager import JobGone, ShardSet, append_log_for, append_running_for
from storage_manager.protocol import ERROR, Invocation, LogEntry, RunningRecord
from storage_manager.protocol.running import ENDED

logger = logging.getLogger(__name__)

NO_DEADLINE_MS = 900_000
"""The time left assumed where the context does not say: Lambda's longest timeout."""


@contextlib.contextmanager
def recorded(shards: ShardSet, invocation: Invocation,
             remaining_ms: Callable[[], int] | None, run: str) -> Iterator[None]:
    """Record the start and end of the delivery `run` (its owner's nonce, see
    `protocol.delivery`) of the invocation around the block (see the module's text)."""
    left = remaining_ms() if remaining_ms is not None else NO_DEADLINE_MS
    _append(shards, invocation, RunningRecord(invocation.id, invocation.task, left, run,
                                              invocation.attempt,
                                              invocation.encode(shards.signer, limit=None)))
    try:
        yield
    except JobGone:
        raise
    except Exception as exc:
        report(shards, invocation, exc)
        raise
    finally:
        _append(shards, invocation, RunningRecord(invocation.id, ENDED, run=run))


def report(shards: ShardSet, invocation: Invocation, exc: BaseException) -> None:
    """Append `exc`, raised outside the tasks, to the job's log as the executor's death."""
    message = (f"Executor {invocation.id} (invocation of task {invocation.task}) failed "
               f"outside its tasks: {type(exc).__name__}: {exc}")
    failure = TaskFailure(ExecutorDied(message), RemoteTraceback.of(exc), invocation.id)
    with contextlib.suppress(redis.RedisError):
        append_log_for(shards, invocation.job, LogEntry(ERROR, invocation.task,
                                                        failure.encode(shards.signer)))


def _append(shards: ShardSet, invocation: Invocation, record: RunningRecord) -> None:
    try:
        append_running_for(shards, invocation.job, record)
    except redis.RedisError:  # the job learns of the executor from its other records
        logger.warning("could not record invocation %s of job %s", invocation.id,
                       invocation.job, exc_info=True)
