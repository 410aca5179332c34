"""Lambda's Invoke API (`POST /2015-03-31/functions/{name}/invocations`) in front of the
local runtime, as Lambda answers it:

- `Event`: 202 once the invocation is queued; it runs when a worker is free (Lambda's
  asynchronous queue), and its failure is reported to no one but the log.
- `RequestResponse`: runs it before any queued event and answers 200 with the handler's
  result, or 200 with `X-Amz-Function-Error: Unhandled` and Lambda's error body (the
  handler's exception, `Sandbox.Timedout`, `Runtime.ExitError`, or
  `Function.ResponseSizeTooLarge` for a result over 6 MB); 429 `TooManyRequestsException`
  while the function's concurrency is taken.
- `DryRun`: 204.
- 413 `RequestEntityTooLargeException` for a payload over the limit (the asynchronous one
  for `Event`, 6 MB for `RequestResponse`); 400 `InvalidRequestContentException` for one
  that is not JSON; 404 `ResourceNotFoundException` for another function.

Not served: `X-Amz-Log-Type: Tail` (no log tail is returned), versions and aliases other
than `$LATEST`, client context.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from executor_lambda.platforms.aws.limits import SYNC_PAYLOAD_BYTES
from executor_lambda.platforms.local import replies
from executor_lambda.platforms.local.lambda_api.errors import api_error, request_id
from executor_lambda.platforms.local.workers import Request

PATH = "/2015-03-31/functions/{function}/invocations"
INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")


async def invoke(request: web.Request) -> web.StreamResponse:
    api = request.app["api"]  # the `server.LambdaApi`
    name = request.match_info["function"]
    if not api.serves(name, request.query.get("Qualifier")):
        return api_error(404, "ResourceNotFoundException",
                         f"Function not found: {api.function_arn(name)}")
    kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
    if kind not in INVOCATION_TYPES:
        return api_error(400, "InvalidParameterValueException",
                         f"Unsupported invocation type {kind!r}")
    limit = api.settings.payload_limit if kind == "Event" else SYNC_PAYLOAD_BYTES
    if (request.content_length or 0) > limit:
        return _too_large(limit)
    payload = await request.read() or b"{}"
    if len(payload) > limit:
        return _too_large(limit)
    try:
        json.loads(payload)
    except ValueError as exc:
        return api_error(400, "InvalidRequestContentException",
                         f"Could not parse request body into json: {exc}")
    if kind == "DryRun":
        return web.Response(status=204, headers={"x-amzn-RequestId": request_id()})
    if kind == "Event":
        api.dispatcher.submit(Request(payload, reported=False))
        return web.Response(status=202, headers={"x-amzn-RequestId": request_id()})
    return await _request_response(api, payload)


async def _request_response(api: Any, payload: bytes) -> web.Response:
    if api.concurrency_taken():
        return api_error(429, "TooManyRequestsException", "Rate Exceeded.",
                         Reason="ReservedFunctionConcurrentInvocationLimitExceeded")
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[bytes] = loop.create_future()

    def respond(reply: bytes) -> None:  # from the dispatcher's thread
        loop.call_soon_threadsafe(_settle, ended, reply)

    api.running_sync += 1
    try:
        api.dispatcher.submit(Request(payload, respond, reported=False), first=True)
        reply = await ended
    finally:
        api.running_sync -= 1
    headers = {"x-amzn-RequestId": request_id(), "X-Amz-Executed-Version": "$LATEST"}
    if not replies.failed(reply) and len(reply) - 1 > SYNC_PAYLOAD_BYTES:
        reply = replies.error("Function.ResponseSizeTooLarge",
                              "Response payload size exceeded maximum allowed payload size "
                              f"({SYNC_PAYLOAD_BYTES} bytes).")
    if replies.failed(reply):
        headers["X-Amz-Function-Error"] = "Unhandled"
    return web.Response(status=200, body=replies.body(reply), headers=headers,
                        content_type="application/json")


def _settle(future: asyncio.Future[bytes], reply: bytes) -> None:
    if not future.done():
        future.set_result(reply)


def _too_large(limit: int) -> web.Response:
    return api_error(413, "RequestEntityTooLargeException",
                     f"Request must be smaller than {limit} bytes for the Invoke operation")
