"""The local runtime's presence in Redis, beside the queue it serves.

One runtime serves a function's queue on a Redis: it claims `FunctionKeys.runtime_alive`
(SET NX, holding a token of its own) before it serves, and a second runtime for the same
function there is refused, naming the first, rather than taking a share of its invocations.
While it serves, a thread refreshes the claim and writes what the runtime is doing to
`FunctionKeys.runtime_stats` every `HEARTBEAT_SECONDS`; a runtime that died loses its claim
within `ALIVE_MS`. Clients of a cluster they did not start (`wukong.connect`) know from the
claim that the runtime is there; `wukong status` reads the stats.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping

import redis

from storage_manager.protocol import FunctionKeys

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 0.5
ALIVE_MS = 10_000


class FunctionServed(RuntimeError):
    """Another runtime serves the function's queue on this Redis already."""


class RuntimeStatus:
    def __init__(self, client: redis.Redis, function: str,
                 counts: Callable[[], Mapping[str, int]]):
        self.client = client
        self.function = function
        self.keys = FunctionKeys(function)
        self.counts = counts
        """What the runtime is doing now: invocations busy, pending, workers idle, ..."""
        self.token = f"{os.getpid()}:{uuid.uuid4().hex}"
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="runtime-status", daemon=True)

    def claim(self) -> None:
        """Become the function's runtime on this Redis, or raise `FunctionServed`."""
        if not self.client.set(self.keys.runtime_alive, self.token, nx=True, px=ALIVE_MS):
            holder = self.client.get(self.keys.runtime_alive) or b"?"
            pid = holder.decode(errors="replace").partition(":")[0]
            raise FunctionServed(
                f"function {self.function!r} is served by another local runtime (pid {pid}) "
                f"on {self._where()}: connect to its cluster (wukong.connect), or name "
                "another function (wukong.runtime.function)")
        self._write("serving")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the heartbeat and give up the claim."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        try:
            if self.client.get(self.keys.runtime_alive) == self.token.encode():
                self.client.delete(self.keys.runtime_alive)
            self._write("stopped", claim=False)
        except redis.RedisError as exc:
            logger.warning("could not give up the claim on %s: %s", self.function, exc)

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_SECONDS):
            try:
                self._write("serving")
            except redis.RedisError as exc:
                logger.warning("runtime heartbeat for %s failed: %s", self.function, exc)

    def _write(self, state: str, claim: bool = True) -> None:
        pipe = self.client.pipeline(transaction=False)
        if claim:
            pipe.set(self.keys.runtime_alive, self.token, px=ALIVE_MS)
        stats = {"state": state, "pid": os.getpid(), "updated": time.time(), **self.counts()}
        pipe.hset(self.keys.runtime_stats, mapping=stats)
        pipe.execute()

    def _where(self) -> str:
        kwargs = self.client.connection_pool.connection_kwargs
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def runtime_status(client: redis.Redis, function: str) -> dict:
    """`alive`, and what the function's runtime last reported (`state`, `pid`, `busy`,
    `pending`, `idle`, `started`, `cap`, `updated`; numbers as numbers)."""
    keys = FunctionKeys(function)
    pipe = client.pipeline(transaction=False)
    pipe.exists(keys.runtime_alive)
    pipe.hgetall(keys.runtime_stats)
    alive, stats = pipe.execute()
    status: dict = {"function": function, "alive": bool(alive)}
    for name, value in stats.items():
        text = value.decode()
        try:
            status[name.decode()] = float(text) if "." in text else int(text)
        except ValueError:
            status[name.decode()] = text
    return status
