"""Start and stop `redis-server` processes for a LocalCluster, each on a free port."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time

import redis

from wukong.service_output import ServiceOutput
from wukong.subprocesses import OUTPUT_SECONDS, die_with_parent, stop_process

INSTALL_HINT = (
    "redis-server was not found. Install it (Debian/Ubuntu: `sudo apt-get install -y "
    "redis-server`; macOS: `brew install redis`), set wukong.redis.server-binary to its path, "
    "or point wukong.redis.urls at running Redis servers."
)


def find_redis_server(configured: str | None = None) -> str:
    path = configured or shutil.which("redis-server")
    if not path or not shutil.which(path):
        raise FileNotFoundError(INSTALL_HINT)
    return path


KEEP_FREED_MEMORY = "dirty_decay_ms:-1,muzzy_decay_ms:-1"
"""jemalloc's options for a server that keeps the pages its values freed, for the next job's
values, instead of returning them to the system: a job's values are freed at its cleanup and
the next job's allocated again, and otherwise the kernel zeroes those fresh pages on first
touch, on Redis's one thread. The memory stays with the server until it stops."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """One ephemeral, memory-only Redis server owned by this process."""

    def __init__(self, binary: str, start_timeout: float = 10.0,
                 keep_freed_memory: bool = False):
        self.port = free_port()
        env = dict(os.environ)
        if keep_freed_memory:  # the variable's name with and without Redis's bundled prefix
            env.update(MALLOC_CONF=KEEP_FREED_MEMORY, JE_MALLOC_CONF=KEEP_FREED_MEMORY)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = tempfile.TemporaryDirectory(prefix="wukong-redis-")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self._dir.name, "--protected-mode", "yes",
             "--loglevel", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=die_with_parent(),
            env=env,
        )
        self.output = ServiceOutput(self.process.stdout, "redis", logging.INFO)
        """What the server says, logged under `wukong.redis`, read so it never blocks."""
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    self.output.join(OUTPUT_SECONDS)
                    said = "\n".join(self.output.last_lines)
                    raise RuntimeError(f"redis-server on port {self.port} exited: {said}")
                with contextlib.suppress(redis.ConnectionError):
                    if client.ping():
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"redis-server on port {self.port} did not start")
                time.sleep(0.01)
        finally:
            client.close()

    def stop(self) -> None:
        stop_process(self.process, before_closing=self.output.join)
        self._dir.cleanup()
