"""The AWS Lambda invoker, with a real botocore client against a scripted Invoke API on a local
port (`lambda_api`): throttling retried with backoff, errors naming the function and the task,
batches invoked in parallel, and payloads over the limit passed by reference through a real
Redis."""

from __future__ import annotations

import importlib
import json
import threading

import pytest
from conftest import job
from lambda_api import Answer, LambdaApi, error, throttled

from executor_lambda.environment import ExecutorEnvironment
from executor_lambda.platforms.aws.invoker import (
    Backoff,
    InvocationFailed,
    LambdaInvoker,
    lambda_client,
)
from executor_lambda.settings import (
    ENV_FUNCTION,
    ENV_PLATFORM,
    ENV_REDIS_URLS,
    ENV_SIGNING_KEY,
)
from storage_manager import JobGone, JobStore, ShardSet, dumps
from storage_manager.payloads import spill_payload
from storage_manager.protocol import PAYLOAD_KEY, Invocation, JobKeys
from storage_manager.signing import Signer
from wukong.redis_servers import ADMIN, RedisServer, RedisUsers, find_redis_server

handler_module = importlib.import_module("executor_lambda.handler")

FAST = Backoff(base_seconds=0.001, max_seconds=0.01, attempts=5)


@pytest.fixture
def api(aws_env):
    server = LambdaApi()
    yield server
    server.close()


@pytest.fixture(scope="module")
def shards():
    servers = [RedisServer(find_redis_server(), RedisUsers.generate()) for _ in range(2)]
    shard_set = ShardSet([s.url(ADMIN) for s in servers], Signer.generate())
    yield shard_set
    shard_set.close()
    for s in servers:
        s.stop()


def invoker(api: LambdaApi, shards: ShardSet, **options) -> LambdaInvoker:
    options.setdefault("backoff", FAST)
    client = lambda_client(endpoint_url=api.url, pool=8)
    return LambdaInvoker("wk-fn", shards, client=client, threads=8, **options)


def test_lambda_invoker_retries_throttling_until_accepted(api, shards):
    """Three 429s, then Lambda accepts: the invocation goes through, the same payload each
    time. botocore's own retries are off, so without the invoker's retry the first 429 fails."""
    api.then(throttled(), throttled(), throttled())
    inv = Invocation(job="j1", task=4)
    invoker(api, shards).invoke([inv])
    assert len(api.requests) == 4
    assert {r.function for r in api.requests} == {"wk-fn"}
    assert {r.invocation_type for r in api.requests} == {"Event"}
    assert {r.body for r in api.requests} == {inv.encode(shards.signer)}


def test_lambda_invoker_gives_up_on_throttling_naming_function_and_task(api, shards):
    """Throttled on every try: after the bound, an error names the function, task and job."""
    api.on_request = lambda request: throttled()
    with pytest.raises(InvocationFailed, match=r"function wk-fn for task 7 of job j2 failed: "
                                               r"still failing after 3 tries") as caught:
        invoker(api, shards, backoff=Backoff(0.001, 0.01, attempts=3)).invoke(
            [Invocation(job="j2", task=7)])
    assert "TooManyRequestsException" in str(caught.value)
    assert (caught.value.function, caught.value.task) == ("wk-fn", 7)
    assert len(api.requests) == 3


def test_lambda_invoker_reports_a_refused_invocation_at_once(api, shards):
    """A 4xx other than throttling (here: no such function) is not retried."""
    api.then(error(404, "ResourceNotFoundException", "Function not found: wk-fn"))
    with pytest.raises(InvocationFailed, match=r"task 2 of job j3 .*ResourceNotFoundException"):
        invoker(api, shards).invoke([Invocation(job="j3", task=2)])
    assert len(api.requests) == 1


def test_lambda_invoker_surfaces_a_function_error_of_a_request_response_call(api, shards):
    """A synchronous invocation whose function raised: its error type and message, with the
    task's name."""
    body = json.dumps({"errorType": "ZeroDivisionError", "errorMessage": "division by zero"})
    api.then(Answer(200, {"X-Amz-Function-Error": "Unhandled"}, body.encode()))
    with pytest.raises(InvocationFailed, match=r"task 3 of job j4 failed: the function failed "
                                               r"\(Unhandled\): ZeroDivisionError: division"):
        invoker(api, shards, invocation_type="RequestResponse").invoke(
            [Invocation(job="j4", task=3)])
    assert api.requests[0].invocation_type == "RequestResponse"


def test_lambda_invoker_invokes_a_batch_at_once(api, shards):
    """Every request of a batch of 8 is held until all 8 are in flight: only an invoker that
    sends them in parallel gets them through (a sequential one breaks the barrier)."""
    barrier = threading.Barrier(8, timeout=30)

    def hold(request):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            return error(400, "InvalidRequestContentException", "not in parallel")
        return None

    api.on_request = hold
    batch = [Invocation(job="j5", task=t) for t in range(8)]
    invoker(api, shards).invoke(batch)
    assert sorted(json.loads(r.body)["task"] for r in api.requests) == list(range(8))


def test_lambda_invoker_passes_a_large_payload_by_reference(api, shards, monkeypatch):
    """A payload over the limit is stored under the job's prefix and a small one names it;
    the executor reads the invocation back whole; the job's cleanup deletes the stored one,
    after which the executor finds the job gone."""
    graph = job(job_id="spill")
    JobStore(shards, graph).upload(dumps(graph))
    big = Invocation(job="spill", task=1, inputs={0: b"x" * 300_000})
    invoker(api, shards).invoke([big])
    (request,) = api.requests
    event = json.loads(request.body)
    assert len(request.body) < 1024 and event[PAYLOAD_KEY] == JobKeys("spill").payload(big.id)
    env = ExecutorEnvironment(shards, invoker(api, shards))
    assert env.invocation(event) == big

    JobStore(shards, graph).cleanup()
    assert not any(s.client.exists(event[PAYLOAD_KEY]) for s in shards.shards)
    monkeypatch.setenv(ENV_REDIS_URLS, ",".join(shards.urls))
    monkeypatch.setenv(ENV_SIGNING_KEY, shards.signer.to_text())
    monkeypatch.setattr(handler_module, "_environment", None)
    assert handler_module.handler(event)["status"] == "gone"
    with pytest.raises(JobGone):
        spill_payload(shards, "spill", "late", b"y" * 10, 60_000)
    assert not any(s.client.exists(JobKeys("spill").payload("late")) for s in shards.shards)


def test_lambda_platform_executor_invokes_through_lambda(aws_env, shards, monkeypatch):
    """An executor whose environment says `WUKONG_PLATFORM=aws` (as `wukong deploy` sets it)
    starts others through Lambda, with the function's own name."""
    monkeypatch.setenv(ENV_REDIS_URLS, ",".join(shards.urls))
    monkeypatch.setenv(ENV_SIGNING_KEY, shards.signer.to_text())
    monkeypatch.setenv(ENV_FUNCTION, "wk-deployed")
    monkeypatch.setenv(ENV_PLATFORM, "aws")
    env = ExecutorEnvironment.from_environ()
    assert isinstance(env.invoker, LambdaInvoker) and env.invoker.function == "wk-deployed"
    env.shards.close()
