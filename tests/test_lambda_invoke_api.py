"""The local runtime's Lambda Invoke API, driven by a real boto3 Lambda client: the status
codes, headers and error codes Lambda answers with."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from conftest import lambda_on_this_machine

from storage_manager.protocol import Invocation


@pytest.fixture(scope="module")
def fronts():
    cluster = lambda_on_this_machine()
    yield cluster
    cluster.close()


@pytest.fixture(scope="module")
def gone(fronts):
    """An invocation, signed, of a job that is not running: the handler returns at once."""
    return Invocation(job="no-such-job", task=0, id="i-1").encode(fronts.signer)


@pytest.fixture
def client(fronts, aws_env):
    return boto3.client("lambda", endpoint_url=fronts.lambda_api_url,
                        config=Config(retries={"total_max_attempts": 1}))


def error_of(call) -> tuple[int, str]:
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_lambda_invoke_api_event_is_accepted_with_202(fronts, client, gone):
    reply = client.invoke(FunctionName=fronts.function, InvocationType="Event", Payload=gone)
    assert reply["StatusCode"] == 202
    assert reply["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_lambda_invoke_api_request_response_returns_the_handlers_result(fronts, client, gone):
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{fronts.function}"
    for name in (fronts.function, arn, f"{arn}:$LATEST"):
        reply = client.invoke(FunctionName=name, Payload=gone)
        assert reply["StatusCode"] == 200 and "FunctionError" not in reply
        assert json.loads(reply["Payload"].read()) == {"job": "no-such-job", "task": 0,
                                                       "status": "gone"}
        assert reply["ExecutedVersion"] == "$LATEST"


def test_lambda_invoke_api_reports_a_function_error_as_lambda_does(fronts, client):
    """A handler that raised: 200, `X-Amz-Function-Error: Unhandled`, Lambda's error body."""
    reply = client.invoke(FunctionName=fronts.function, Payload=b'{"job": "j"}')
    assert reply["StatusCode"] == 200 and reply["FunctionError"] == "Unhandled"
    error = json.loads(reply["Payload"].read())
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "not a Wukong invocation (KeyError: 'task')"
    assert any("from_event" in frame for frame in error["stackTrace"])


def test_lambda_invoke_api_refuses_payloads_over_lambdas_limits(fronts, client):
    """256 KB for an Event (the runtime's payload limit), 6 MB for RequestResponse: 413."""
    event = json.dumps({"pad": "x" * 262_144}).encode()
    assert error_of(lambda: client.invoke(FunctionName=fronts.function,
                                          InvocationType="Event", Payload=event)) == (
        413, "RequestEntityTooLargeException")
    big = json.dumps({"pad": "x" * (6 * 1024 * 1024)}).encode()
    assert error_of(lambda: client.invoke(FunctionName=fronts.function, Payload=big)) == (
        413, "RequestEntityTooLargeException")


def test_lambda_invoke_api_refuses_other_functions_and_non_json(fronts, client, gone):
    assert error_of(lambda: client.invoke(FunctionName="someone-else", Payload=gone)) == (
        404, "ResourceNotFoundException")
    assert error_of(lambda: client.invoke(FunctionName=fronts.function,
                                          Payload=b"not json")) == (
        400, "InvalidRequestContentException")
    reply = client.invoke(FunctionName=fronts.function, InvocationType="DryRun", Payload=gone)
    assert reply["StatusCode"] == 204
