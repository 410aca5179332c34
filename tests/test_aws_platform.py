"""Whole jobs with `wukong.platform=aws` against Lambda's APIs served on this machine: the
client invokes the function through boto3 and starts nothing locally, executors start each
other and the KV proxy starts fan-outs through the local runtime's Invoke API, and AWS's own
runtime interface client (awslambdaric) can host the executors through its Runtime API."""

from __future__ import annotations

import os
import pathlib
import signal
import threading
import time
import uuid
from operator import add

import dask
import dask.array as da
import psutil
import pytest
from conftest import job_keys, lambda_client_settings, lambda_on_this_machine

import wukong
from executor_lambda import ExecutorDied
from storage_manager.protocol import Invocation
from wukong.lambda_cluster import LambdaCluster


@pytest.fixture(scope="module")
def fronts():
    cluster = lambda_on_this_machine()
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def narrow():
    """One executor at a time, four seconds each, hosted by awslambdaric."""
    cluster = lambda_on_this_machine(**{
        "wukong.runtime.interface-client": "awslambdaric", "wukong.runtime.concurrency": 1,
        "wukong.runtime.invocation-timeout": 4})
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("keys")


@pytest.fixture
def on(key_dir):
    """A `dask.config.set` that sends the jobs of its block to a cluster's Lambda APIs."""
    return lambda cluster: dask.config.set(lambda_client_settings(cluster, key_dir))


@pytest.fixture
def on_lambda(fronts, aws_env, on):
    with on(fronts):
        yield fronts
    assert job_keys(fronts.admin_urls) == [], "a job left keys in Redis"


def tree(leaves: int) -> tuple[dict, str]:
    dsk = {f"x-{i}": (add, i, 1) for i in range(leaves)}
    layer, depth = [f"x-{i}" for i in range(leaves)], 0
    while len(layer) > 1:
        depth += 1
        pairs = [layer[i:i + 2] for i in range(0, len(layer), 2)]
        layer = []
        for j, pair in enumerate(pairs):
            key = f"r{depth}-{j}"
            dsk[key] = (add, pair[0], pair[1]) if len(pair) == 2 else (add, pair[0], 0)
            layer.append(key)
    return dsk, layer[0]


def test_aws_platform_tree_reduction_runs_on_lambda_and_starts_nothing_here(on_lambda):
    before = {p.pid for p in psutil.Process().children()}
    dsk, root = tree(64)
    assert wukong.get(dsk, root) == sum(range(1, 65))
    assert {p.pid for p in psutil.Process().children()} <= before
    report = wukong.last_job()
    assert report.platform == "aws" and report.executors_invoked > 1
    assert not report.cost.estimated
    assert "cost on Lambda (x86_64, 2,048 MB)" in report.summary()
    assert "estimated" not in report.summary()


def test_aws_platform_gemm(on_lambda):
    x = da.random.RandomState(0).random((600, 600), chunks=(200, 200))
    expected = (x.compute() @ x.compute().T).sum()
    assert (x @ x.T).sum().compute(scheduler="wukong") == pytest.approx(expected)
    assert wukong.last_job().platform == "aws"


def test_aws_platform_failing_task_raises_its_original_type(on_lambda):
    def fail(x):
        raise KeyError(f"no {x}")

    with pytest.raises(KeyError, match="no 1") as caught:
        wukong.get({"a": 1, "b": (fail, "a"), "c": (add, "b", 1)}, "c")
    assert any("'b'" in note for note in caught.value.__notes__)


def test_aws_platform_fan_out_of_1000_through_the_kv_proxy(on_lambda):
    """One task starts 1,000: the executor hands them to the KV proxy in one step, and the
    proxy invokes them through the Invoke API."""
    width = 1000
    dsk = {"root": (add, 1, 1), **{f"c-{i}": (add, "root", i) for i in range(width)},
           "total": (sum, [f"c-{i}" for i in range(width)])}
    before = on_lambda.proxy_status()["done"]
    with dask.config.set({"wukong.scheduling.client-finalize": False}):
        assert wukong.get(dsk, "total") == 2 * width + sum(range(width))
    assert on_lambda.proxy_status()["done"] >= before + width - 1
    assert wukong.last_job().executors_invoked >= width / 2


def test_lambda_executors_hosted_by_awslambdaric(narrow, aws_env, on):
    """The runtime interface client pulls each invocation from the Runtime API, calls the
    handler with its own context, and posts the result back."""
    def request_id(_):
        from awslambdaric import bootstrap  # only loaded where it hosts the handler

        return bootstrap._GLOBAL_AWS_REQUEST_ID  # from Lambda-Runtime-Aws-Request-Id

    dsk, root = tree(8)
    with on(narrow):
        got, total = wukong.get({**dsk, "ric": (request_id, root)}, ["ric", root])
    assert total == 36 and str(uuid.UUID(got)) == got


def test_lambda_request_over_the_concurrency_is_throttled(narrow, aws_env, tmp_path, on):
    """While the function's one executor runs, a synchronous invocation gets 429
    (TooManyRequestsException) from the Invoke API; boto3's own retries are off here."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    flag = tmp_path / "go"

    def wait_for_flag(_):
        while not flag.exists():
            time.sleep(0.01)
        return 1

    client = boto3.client("lambda", endpoint_url=narrow.lambda_api_url,
                          config=Config(retries={"total_max_attempts": 1}))
    gone = Invocation(job="gone", task=0).encode(narrow.signer)
    with on(narrow):
        result: list = []
        job = threading.Thread(target=lambda: result.append(wukong.get({"w": (wait_for_flag, 0)},
                                                                        "w")))
        job.start()
        try:
            while True:  # until the job's executor holds the one slot
                try:
                    client.invoke(FunctionName=narrow.function, Payload=gone)
                except ClientError as exc:
                    assert exc.response["Error"]["Code"] == "TooManyRequestsException"
                    assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
                    break
        finally:
            flag.touch()
            job.join()
    assert result == [1]


def test_lambda_executor_ended_at_its_timeout_fails_the_job_naming_the_task(narrow, aws_env,
                                                                          on):
    """Lambda ends an invocation at the function's timeout and tells no one: the client finds
    the invocation past its deadline with no end recorded, and names the task."""
    def sleepy(_):
        time.sleep(60)

    with on(narrow), pytest.raises(ExecutorDied, match=r"did not end by its deadline") as err:
        wukong.get({"a": 1, "slow": (sleepy, "a")}, "slow")
    assert "'slow'" in str(err.value)
    assert "delivered 3 times" in str(err.value)  # wukong.retries: 2


def die_once(marker: str, x):
    path = pathlib.Path(marker)
    if not path.exists():
        path.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return x + 1


def test_lambda_executor_killed_is_delivered_again_by_the_client(narrow, aws_env, on, tmp_path):
    """An executor Lambda ends mid-task (SIGKILL): the client finds it past its deadline and
    invokes it again; the retry takes over its claims and the job's result is right."""
    dsk = {"m": str(tmp_path / "killed"), "a": (add, 1, 1), "dies": (die_once, "m", "a"),
           "after": (add, "dies", 1)}
    with on(narrow):
        assert wukong.get(dsk, "after") == 4
    assert (tmp_path / "killed").exists()


def test_aws_platform_settings_fail_naming_the_setting(aws_env):
    with dask.config.set({"wukong.platform": "gcp"}), pytest.raises(
            ValueError, match=r"wukong\.platform must be one of local, aws"):
        wukong.get({"a": 1}, "a")
    with dask.config.set({"wukong.redis.urls": []}), pytest.raises(
            ValueError, match=r"wukong\.redis\.urls is empty"):
        LambdaCluster()


@pytest.mark.parametrize(("settings", "named"), [
    ({"wukong.runtime.invocation-timeout": 901}, "wukong.runtime.invocation-timeout"),
    ({"wukong.runtime.invocation-timeout": 0}, "wukong.runtime.invocation-timeout"),
    ({"wukong.aws.memory": 64}, "wukong.aws.memory"),
    ({"wukong.aws.memory": 10_241}, "wukong.aws.memory"),
    ({"wukong.runtime.payload-limit": 2 * 1024 * 1024}, "wukong.runtime.payload-limit"),
    ({"wukong.runtime.concurrency": 0}, "wukong.runtime.concurrency"),
])
def test_lambda_limits_hold_on_the_local_platform_too(settings, named):
    """A setting past Lambda's limits fails when a cluster starts, before anything runs."""
    with dask.config.set(settings), pytest.raises(ValueError, match=named):
        wukong.LocalCluster(shards=1)


@pytest.mark.parametrize(("settings", "named"), [
    ({"wukong.aws.memory": 64}, "wukong.aws.memory"),
    ({"wukong.runtime.payload-limit": 0}, "wukong.runtime.payload-limit"),
    ({"wukong.aws.reserved-concurrency": 0}, "wukong.aws.reserved-concurrency"),
])
def test_lambda_limits_hold_on_the_aws_platform(settings, named, aws_env):
    with dask.config.set({**settings, "wukong.redis.urls": ["redis://127.0.0.1:1"]}), \
            pytest.raises(ValueError, match=named):
        LambdaCluster()
