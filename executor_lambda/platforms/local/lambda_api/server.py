"""The HTTP server of the local runtime's Lambda APIs: one aiohttp application on an event
loop of its own thread, listening on the Invoke API's address and on one port per execution
environment (its Runtime API).

Why aiohttp: one event loop serves every connection, so the keep-alive connections of many
pooled boto3 clients and the long-polling `next` request of every idle environment cost no
thread each, its HTTP parser is in C, and the loop leaves the GIL to the dispatcher's thread
while it waits. `http.server` would hold a thread per open connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

import uvloop
from aiohttp import web

from executor_lambda.platforms.aws.limits import SYNC_PAYLOAD_BYTES
from executor_lambda.platforms.local.lambda_api import invoke, runtime
from executor_lambda.platforms.local.lambda_api.runtime import RuntimeEnvironment
from executor_lambda.platforms.local.settings import RuntimeSettings

if TYPE_CHECKING:
    from executor_lambda.platforms.local.dispatcher import Dispatcher

ACCOUNT = "000000000000"
"""The account the local function's ARN names."""
BODY_BYTES = SYNC_PAYLOAD_BYTES + 1024 * 1024
"""The largest request body read; a larger one is refused before it is read."""


class LambdaApi:
    """Serves the Invoke API at `address` (host:port; port 0: any free one, see `url`) for
    `dispatcher`, and a Runtime API for each environment it opens."""

    def __init__(self, dispatcher: Dispatcher, settings: RuntimeSettings, address: str):
        self.dispatcher = dispatcher
        self.settings = settings
        self.region = os.environ.get("AWS_REGION") or "us-east-1"
        self.running_sync = 0
        """`RequestResponse` invocations not answered yet."""
        self._environments: dict[int, RuntimeEnvironment] = {}
        self._loop = uvloop.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="lambda-api",
                                        daemon=True)
        self._thread.start()
        host, _, port = address.rpartition(":")
        sock = _listening(host or "127.0.0.1", int(port))
        self.url = f"http://{host or '127.0.0.1'}:{sock.getsockname()[1]}"
        self._call(self._start(sock))

    # -- what the handlers ask --------------------------------------------------------------
    def serves(self, name: str, qualifier: str | None) -> bool:
        """`name` (a name, an ARN or a partial ARN, optionally `:$LATEST`) is our function."""
        parts = name.split(":")
        if "function" in parts:
            at = parts.index("function")
            parts, qualifier = parts[at + 1:at + 2], ":".join(parts[at + 2:]) or qualifier
        return parts == [self.settings.function] and qualifier in (None, "$LATEST")

    def function_arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT}:function:{name}"

    def concurrency_taken(self) -> bool:
        limit = self.settings.concurrency
        return len(self.dispatcher.busy) >= limit or self.running_sync >= limit

    def environment_of(self, request: web.Request) -> RuntimeEnvironment | None:
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        return self._environments.get(sockname[1]) if sockname else None

    # -- environments (the dispatcher's thread) ---------------------------------------------
    def open_environment(self, conn: Connection) -> str:
        """A new environment whose events come down `conn`; its Runtime API's address. The
        socket listens at once, so its runtime may connect before the site serves."""
        sock = _listening("127.0.0.1", 0)
        port = sock.getsockname()[1]
        env = self._environments[port] = RuntimeEnvironment(conn)
        asyncio.run_coroutine_threadsafe(self._open(env, sock), self._loop)
        return f"127.0.0.1:{port}"

    def close_environment(self, address: str) -> None:
        env = self._environments.pop(int(address.rpartition(":")[2]), None)
        if env is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(self._close(env), self._loop)

    def close(self) -> None:
        self._call(self._runner.cleanup())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    # -- on the loop ---------------------------------------------------------------------
    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    async def _start(self, sock: socket.socket) -> None:
        app = web.Application(client_max_size=BODY_BYTES)
        app["api"] = self
        app.add_routes([web.post(invoke.PATH, invoke.invoke), *runtime.routes()])
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _open(self, env: RuntimeEnvironment, sock: socket.socket) -> None:
        env.site = web.SockSite(self._runner, sock)
        await env.site.start()
        asyncio.get_running_loop().add_reader(env.conn.fileno(), env.receive)

    async def _close(self, env: RuntimeEnvironment) -> None:
        with contextlib.suppress(OSError, ValueError):
            asyncio.get_running_loop().remove_reader(env.conn.fileno())
        env.conn.close()
        if env.site is not None:
            await env.site.stop()


def _listening(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    return sock
