"""Start and stop `redis-server` processes for a LocalCluster, each on a free port, each
letting in only the cluster's users.

A server's `default` user is off, so a client that does not authenticate gets NOAUTH for
every command. Each role of the protocol (`storage_manager.protocol.roles`) has a user of its
own, allowed only what that role sends, and `admin` (the cluster's owner: operators, tests)
may do anything. The passwords are random per cluster (`RedisUsers`). A server reads its
whole configuration, passwords included, from its stdin (`redis-server -`), so none is on
its command line, which every local user can read in `/proc`; it runs with umask 077 in a
0700 directory of its own.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass

import redis

from storage_manager.protocol.roles import ROLES, acl_rules
from wukong.service_output import ServiceOutput
from wukong.subprocesses import OUTPUT_SECONDS, private_child, stop_process

INSTALL_HINT = (
    "redis-server was not found. Install it (Debian/Ubuntu: `sudo apt-get install -y "
    "redis-server`; macOS: `brew install redis`), set wukong.redis.server-binary to its path, "
    "or point wukong.redis.urls at running Redis servers."
)

ADMIN = "admin"
"""The user that may do anything: the cluster's owner, never handed to a child process."""


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


@dataclass(frozen=True)
class RedisUsers:
    """The passwords of a cluster's Redis users: `ADMIN` and one per role."""

    passwords: Mapping[str, str]

    @classmethod
    def generate(cls) -> RedisUsers:
        return cls({user: secrets.token_urlsafe(32) for user in (ADMIN, *ROLES)})

    def config(self, client_setinfo: bool) -> list[str]:
        """The `user` lines of a server's configuration (`client_setinfo`: the server knows
        CLIENT SETINFO, which redis-py sends on connecting, and each user may run it)."""
        extra = " +client|setinfo" if client_setinfo else ""
        lines = ["user default reset off"]
        for user, password in self.passwords.items():
            rules = "on ~* &* +@all" if user == ADMIN else acl_rules(user) + extra
            lines.append(f"user {user} reset {rules} >{password}")
        return lines


class RedisServer:
    """One ephemeral, memory-only Redis server owned by this process."""

    def __init__(self, binary: str, users: RedisUsers, start_timeout: float = 10.0,
                 keep_freed_memory: bool = False):
        self.port = free_port()
        self.users = users
        self._binary = binary
        self._env = dict(os.environ)
        if keep_freed_memory:  # the variable's name with and without Redis's bundled prefix
            self._env.update(MALLOC_CONF=KEEP_FREED_MEMORY, JE_MALLOC_CONF=KEEP_FREED_MEMORY)
        self._dir = tempfile.TemporaryDirectory(prefix="wukong-redis-")  # mode 0700
        self._start(start_timeout)

    def _start(self, start_timeout: float) -> None:
        config = [f"port {self.port}", "bind 127.0.0.1", "protected-mode yes", 'save ""',
                  "appendonly no", f"dir {self._dir.name}", "loglevel warning",
                  *self.users.config(knows_client_setinfo(self._binary))]
        self.process = subprocess.Popen(
            [self._binary, "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=private_child(), env=self._env,
        )
        self.output = ServiceOutput(self.process.stdout, "redis", logging.INFO)
        """What the server says, logged under `wukong.redis`, read so it never blocks."""
        try:
            self.process.stdin.write("\n".join(config).encode() + b"\n")
            self.process.stdin.close()
            self._wait_ready(start_timeout)
        except BaseException:
            self.stop()
            raise

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (for tests of lost shards); `restart` starts
        it again."""
        self.process.kill()
        stop_process(self.process, before_closing=self.output.join)

    def restart(self, start_timeout: float = 10.0) -> None:
        """Start the server again, empty, on its port with its users (after `kill`, or
        killing it now)."""
        if self.process.poll() is None:
            self.kill()
        self._start(start_timeout)

    def url(self, user: str) -> str:
        """The server's URL as `user` (a role, or `ADMIN`), with its password."""
        return f"redis://{user}:{self.users.passwords[user]}@127.0.0.1:{self.port}/0"

    def _wait_ready(self, timeout: float) -> None:
        client = redis.Redis.from_url(self.url(ADMIN), socket_connect_timeout=0.5)
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


@functools.cache
def knows_client_setinfo(binary: str) -> bool:
    """Whether the server `binary` has CLIENT SETINFO (Redis 7.2 and later)."""
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"v=(\d+)\.(\d+)", version)
    return found is not None and (int(found[1]), int(found[2])) >= (7, 2)
