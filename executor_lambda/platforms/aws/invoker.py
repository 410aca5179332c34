"""Starting executors on AWS Lambda: one `lambda.invoke` per invocation, a batch's at once.

The client is botocore's, one per process (per region and endpoint), with a connection pool
as large as the threads that invoke a batch. botocore's own retries are off (standard mode,
one attempt): this invoker retries what is worth retrying itself, throttling (HTTP 429,
`TooManyRequestsException`) and Lambda's transient errors, with exponential backoff and full
jitter up to `Backoff.attempts` tries, so a fan-out backs off under one bound. After that, and
at once for any other error (a 4xx such as an unknown function or a payload Lambda refuses),
it raises `InvocationFailed`, naming the function and the task; so it does for a
`RequestResponse` invocation whose function reported an error (`FunctionError`).

A payload over `payload_limit` is stored in Redis under the job's prefix and passed by
reference (`Invocation.reference`, `storage_manager.payloads`); the executor reads it back
(`ExecutorEnvironment.invocation`).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from executor_lambda.platforms.aws.limits import ASYNC_PAYLOAD_BYTES, SYNC_PAYLOAD_BYTES
from storage_manager import ShardSet
from storage_manager.payloads import spill_payload
from storage_manager.protocol import DEFAULT_PAYLOAD_LIMIT, Invocation

logger = logging.getLogger(__name__)

DEFAULT_THREADS = 64
"""Invocations of one batch in flight at once, and the client's connection pool."""
DEFAULT_SPILL_TTL_MS = 3_600_000
"""How long a payload passed by reference may live (as `wukong.redis.ttl`'s default)."""
TRANSIENT_ERRORS = frozenset({
    "TooManyRequestsException", "ServiceException", "ResourceNotReadyException",
    "ResourceConflictException", "EC2ThrottledException",
})
"""Error codes after which the same invocation may succeed: throttling, Lambda's own
failures, a function still being created or updated."""
PAYLOAD_LIMITS = {"Event": ASYNC_PAYLOAD_BYTES, "RequestResponse": SYNC_PAYLOAD_BYTES}


class InvocationFailed(RuntimeError):
    """Lambda refused or failed an invocation; names the function, the task and the job."""

    def __init__(self, message: str, function: str, job: str, task: int):
        super().__init__(message)
        self.function = function
        self.job = job
        self.task = task


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: before retry `n` (from 0), a pause drawn
    uniformly from [0, min(max_seconds, base_seconds * 2**n)); `attempts` tries in all."""

    base_seconds: float = 0.05
    max_seconds: float = 5.0
    attempts: int = 10

    def delay(self, retry: int) -> float:
        return random.uniform(0.0, min(self.max_seconds, self.base_seconds * 2 ** retry))


def lambda_client(region: str | None = None, endpoint_url: str | None = None,
                  pool: int = DEFAULT_THREADS, read_timeout: float = 60.0) -> Any:
    """This process's Lambda client for the region and endpoint (None: boto3's usual chain,
    which also reads `AWS_ENDPOINT_URL_LAMBDA`); made once per process, since a client is
    thread-safe and its pool is what makes parallel invokes cheap."""
    return _client(os.getpid(), region, endpoint_url, pool, read_timeout)


@functools.cache
def _client(pid: int, region: str | None, endpoint_url: str | None, pool: int,
            read_timeout: float) -> Any:
    config = Config(max_pool_connections=pool, connect_timeout=5, read_timeout=read_timeout,
                    tcp_keepalive=True, retries={"mode": "standard", "total_max_attempts": 1})
    return boto3.session.Session().client("lambda", region_name=region,
                                          endpoint_url=endpoint_url, config=config)


class LambdaInvoker:
    """Invokes `function` on AWS Lambda (an `Invoker`): `Event` (asynchronous) by default;
    `RequestResponse` waits for each executor and raises on its error."""

    def __init__(self, function: str, shards: ShardSet | None, *,
                 payload_limit: int = DEFAULT_PAYLOAD_LIMIT, invocation_type: str = "Event",
                 ttl_ms: int = DEFAULT_SPILL_TTL_MS, threads: int = DEFAULT_THREADS,
                 backoff: Backoff = Backoff(), client: Any = None):
        if invocation_type not in PAYLOAD_LIMITS:
            raise ValueError(f"invocation_type must be one of {', '.join(PAYLOAD_LIMITS)}, "
                             f"not {invocation_type!r}")
        if not 0 < payload_limit <= PAYLOAD_LIMITS[invocation_type]:
            raise ValueError(
                f"wukong.runtime.payload-limit must be from 1 to "
                f"{PAYLOAD_LIMITS[invocation_type]:,} bytes for {invocation_type} invocations "
                f"(AWS Lambda's limit), got {payload_limit}")
        self.function = function
        self.shards = shards
        self.payload_limit = payload_limit
        self.invocation_type = invocation_type
        self.ttl_ms = ttl_ms
        self.threads = threads
        self.backoff = backoff
        read_timeout = 60.0 if invocation_type == "Event" else 910.0
        self.client = client or lambda_client(pool=threads, read_timeout=read_timeout)
        self._pool: ThreadPoolExecutor | None = None

    def invoke(self, invocations: Sequence[Invocation]) -> None:
        """Invoke every one, at once; raises `InvocationFailed` (the first failure, with how
        many failed) once all calls are over."""
        if not invocations:
            return
        payloads = [self.payload(inv) for inv in invocations]
        if len(invocations) == 1:
            self.send(payloads[0], invocations[0].job, invocations[0].task)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="lambda-invoke")
        futures = [self._pool.submit(self.send, payload, inv.job, inv.task)
                   for inv, payload in zip(invocations, payloads, strict=True)]
        failures = [exc for exc in (f.exception() for f in futures) if exc is not None]
        if len(failures) == 1:
            raise failures[0]
        if failures:
            first = failures[0]
            if not isinstance(first, InvocationFailed):
                raise first
            raise InvocationFailed(f"{len(failures)} of {len(invocations)} invocations failed; "
                                   f"the first: {first}", first.function, first.job,
                                   first.task) from first

    def payload(self, invocation: Invocation) -> bytes:
        """Its payload, signed, or one naming where it is stored if it is over the limit."""
        signer = self.shards.signer
        payload = invocation.encode(signer, limit=None)
        if len(payload) <= self.payload_limit:
            return payload
        key = spill_payload(self.shards, invocation.job, invocation.id, payload, self.ttl_ms)
        logger.debug("payload of task %d of job %s is %d bytes, over %d: passed as %s",
                     invocation.task, invocation.job, len(payload), self.payload_limit, key)
        return invocation.reference(key, signer)

    def send(self, payload: bytes, job: str, task: int) -> None:
        """One invocation with `payload` (of task `task` of job `job`), retried as above."""
        last: Exception | None = None
        for attempt in range(self.backoff.attempts):
            if attempt:
                time.sleep(self.backoff.delay(attempt - 1))
            try:
                reply = self.client.invoke(FunctionName=self.function, Payload=payload,
                                           InvocationType=self.invocation_type)
            except ClientError as exc:
                if _error_code(exc) not in TRANSIENT_ERRORS:
                    raise self._failed(job, task, f"Lambda refused it: {exc}") from exc
                last = exc
            except (BotoConnectionError, HTTPClientError) as exc:
                last = exc
            else:
                self._check_reply(job, task, reply)
                return
            logger.debug("invoking %s for task %d: %s (try %d)", self.function, task, last,
                         attempt + 1)
        raise self._failed(job, task, f"still failing after {self.backoff.attempts} tries "
                                      f"with backoff; the last: {last}") from last

    def _check_reply(self, job: str, task: int, reply: dict) -> None:
        """A `RequestResponse` reply carries the function's result or its error."""
        if self.invocation_type == "Event":
            return
        body = reply["Payload"].read()
        if "FunctionError" in reply:
            try:
                error = json.loads(body)
                detail = f"{error.get('errorType', 'Error')}: {error.get('errorMessage', '')}"
            except (ValueError, AttributeError):
                detail = body.decode(errors="replace")
            raise self._failed(job, task, f"the function failed ({reply['FunctionError']}): "
                                          f"{detail}")

    def _failed(self, job: str, task: int, why: str) -> InvocationFailed:
        return InvocationFailed(f"invoking function {self.function} for task {task} of job "
                                f"{job} failed: {why}", self.function, job, task)


def _error_code(exc: ClientError) -> str:
    error = exc.response.get("Error", {})
    if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429:
        return "TooManyRequestsException"
    return error.get("Code", "")
