"""Lambda's Runtime API, one execution environment per worker, as each Lambda sandbox has its
own at `AWS_LAMBDA_RUNTIME_API`: the runtime interface client long-polls
`GET /2018-06-01/runtime/invocation/next` (the event, with the headers
`Lambda-Runtime-Aws-Request-Id`, `-Deadline-Ms`, `-Invoked-Function-Arn`, `-Trace-Id`), then
posts the handler's result to `.../invocation/{id}/response` or its error to
`.../invocation/{id}/error` (202 each); an error loading the handler goes to
`/2018-06-01/runtime/init/error`. A response over 6 MB is refused with 413 and the invocation
fails with `Function.ResponseSizeTooLarge`, as on Lambda.

An environment is the far end of its worker's pipe (see `workers`): what the dispatcher sends
down the pipe is the next event and its request id, and what the runtime posts goes back up
it as the reply.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from multiprocessing.connection import Connection

from aiohttp import web

from executor_lambda.platforms.aws.limits import SYNC_PAYLOAD_BYTES
from executor_lambda.platforms.local import replies
from executor_lambda.platforms.local.lambda_api.errors import runtime_error

logger = logging.getLogger(__name__)

PREFIX = "/2018-06-01/runtime"
PIPE_BYTES = 65_536
"""Replies larger than this are written from another thread: the write blocks until the
dispatcher reads."""


class RuntimeEnvironment:
    """One environment's state; used on the API's event loop only."""

    def __init__(self, conn: Connection, site: web.BaseSite | None = None):
        self.conn = conn
        self.site = site
        self.events: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        """Request ids and events."""
        self.request_id: str | None = None

    def receive(self) -> None:
        """The dispatcher sent an event (a reader callback of the loop)."""
        try:
            self.events.put_nowait(self.conn.recv())
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(self.conn.fileno())

    async def reply(self, reply: bytes) -> None:
        self.request_id = None
        if len(reply) <= PIPE_BYTES:
            self.conn.send_bytes(reply)
        else:
            await asyncio.get_running_loop().run_in_executor(None, self.conn.send_bytes, reply)


async def next_invocation(request: web.Request) -> web.StreamResponse:
    api = request.app["api"]  # the `server.LambdaApi`
    env = api.environment_of(request)
    if env is None:
        return runtime_error(404, "NotFound", "no execution environment listens here")
    env.request_id, event = await env.events.get()
    deadline_ms = int((time.time() + api.settings.timeout) * 1000)
    trace = f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"
    return web.Response(body=event, content_type="application/json", headers={
        "Lambda-Runtime-Aws-Request-Id": env.request_id,
        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": api.function_arn(api.settings.function),
        "Lambda-Runtime-Trace-Id": trace,
    })


async def invocation_response(request: web.Request) -> web.StreamResponse:
    env, refused = _invocation_of(request)
    if refused is not None:
        return refused
    if (request.content_length or 0) > SYNC_PAYLOAD_BYTES:
        return await _response_too_large(env)
    body = await request.read()
    if len(body) > SYNC_PAYLOAD_BYTES:
        return await _response_too_large(env)
    await env.reply(replies.result(body))
    return web.json_response({"status": "OK"}, status=202)


async def invocation_error(request: web.Request) -> web.StreamResponse:
    env, refused = _invocation_of(request)
    if refused is not None:
        return refused
    body = await request.read()
    if not body:
        error_type = request.headers.get("Lambda-Runtime-Function-Error-Type", "Unknown")
        body = replies.body(replies.error(error_type, ""))
    await env.reply(replies.ERROR + body)
    return web.json_response({"status": "OK"}, status=202)


async def init_error(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    logger.warning("the runtime interface client could not start the handler: %s",
                   replies.describe(replies.ERROR + body))
    return web.json_response({"status": "OK"}, status=202)


def _invocation_of(request: web.Request
                   ) -> tuple[RuntimeEnvironment, web.Response | None]:
    api = request.app["api"]  # the `server.LambdaApi`
    env = api.environment_of(request)
    if env is None:
        return env, runtime_error(404, "NotFound", "no execution environment listens here")
    if env.request_id is None or request.match_info["request_id"] != env.request_id:
        return env, runtime_error(400, "InvalidRequestID", "Invalid request ID")
    return env, None


async def _response_too_large(env: RuntimeEnvironment) -> web.Response:
    await env.reply(replies.error("Function.ResponseSizeTooLarge",
                                  "Response payload size exceeded maximum allowed payload "
                                  f"size ({SYNC_PAYLOAD_BYTES} bytes)."))
    return runtime_error(413, "RequestEntityTooLarge", "Exceeded maximum allowed payload size "
                                                       f"({SYNC_PAYLOAD_BYTES} bytes).")


def routes() -> list[web.RouteDef]:
    return [web.get(f"{PREFIX}/invocation/next", next_invocation),
            web.post(PREFIX + "/invocation/{request_id}/response", invocation_response),
            web.post(PREFIX + "/invocation/{request_id}/error", invocation_error),
            web.post(f"{PREFIX}/init/error", init_error)]
