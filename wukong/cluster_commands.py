"""`wukong up`, `down`, `status` and `report`: a cluster that outlives a script.

`wukong up` starts a `LocalCluster` (shards, runtime, proxy) and keeps it until `wukong
down` (SIGTERM) or Ctrl-C, in the foreground or, with `--detach`, in a process of its own;
it publishes the cluster's address in its directory (see `cluster_address`) and logs what
the cluster's processes log to the directory's `cluster.log`. Clients connect with
`wukong.connect(...)` or `wukong.address`. While it runs, it restarts a KV proxy that died;
if the runtime dies, it stops the cluster and exits with an error.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import dask.config

from wukong.cluster import LocalCluster
from wukong.cluster_address import ClusterDirectory
from wukong.config import setting
from wukong.runtime_process import environment_finding_us

logger = logging.getLogger("wukong.cluster")

LOG_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
DOWN_SECONDS = 60.0
"""How long `wukong down` waits for the cluster to stop before it kills it."""


class CommandError(RuntimeError):
    """What a command says on stderr instead of a traceback."""


def up(directory: str | None, options: dict[str, Any], detach: bool = False,
       argv: Sequence[str] = (), logged: bool = False) -> int:
    """Start a cluster in `directory`; with `detach`, in a process of its own, and return
    once it serves. `options` override `wukong.*` settings (`redis.shards`, ...)."""
    where = ClusterDirectory(directory)
    running = where.pid()
    if running is not None:
        raise CommandError(f"a cluster is up in {where.path} already (pid {running}): "
                           "`wukong down` first")
    where.create()
    if detach:
        return _up_detached(where, [arg for arg in argv if arg != "--detach"])
    with dask.config.set({f"wukong.{name}": value for name, value in options.items()
                          if value is not None}):
        _log_to(where, also_stderr=not logged)
        return _up_here(where)


def _up_here(where: ClusterDirectory) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    cluster = LocalCluster()
    try:
        where.write(cluster.address(), os.getpid())
        logger.info("cluster up in %s: function %s, shards %s", where.path, cluster.function,
                    cluster.redis_urls)
        sys.stdout.write(f"Wukong cluster up, function {cluster.function}\n"
                         f"address: {where.address_file}\n")
        sys.stdout.flush()
        return _serve(cluster, stop)
    finally:
        where.clear()
        cluster.close()
        logger.info("cluster in %s is down", where.path)


def _serve(cluster: LocalCluster, stop: threading.Event) -> int:
    """Keep the cluster until `stop`; 1 if its runtime died first."""
    while not stop.wait(1.0):
        try:
            cluster.check_alive()
        except RuntimeError as exc:
            logger.error("%s; stopping the cluster", exc)
            return 1
    return 0


def _log_to(where: ClusterDirectory, also_stderr: bool) -> None:
    level = setting("logging.level")
    handlers: list[logging.Handler] = [logging.FileHandler(where.log_file)]
    where.log_file.chmod(0o600)
    if also_stderr:
        handlers.append(logging.StreamHandler(sys.stderr))
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers, force=True)


def _up_detached(where: ClusterDirectory, argv: list[str]) -> int:
    """Run `wukong up` in a new session, its output to the log; return once it serves."""
    descriptor = os.open(where.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "wukong", *argv, "--logged"], stdin=subprocess.DEVNULL,
            stdout=descriptor, stderr=descriptor, start_new_session=True,
            env=environment_finding_us())
    finally:
        os.close(descriptor)
    deadline = time.monotonic() + 2 * setting("runtime.start-timeout")
    while where.pid() != child.pid or not where.address_file.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            if child.poll() is None:
                child.terminate()
            raise CommandError(f"the cluster did not start (exit code {child.poll()}); see "
                               f"{where.log_file}")
        time.sleep(0.05)
    sys.stdout.write(f"Wukong cluster up, function {where.address().function} "
                     f"(pid {child.pid})\naddress: {where.address_file}\n")
    return 0


def down(directory: str | None) -> int:
    """Stop the cluster in `directory`: SIGTERM its `wukong up`, wait until it is gone."""
    where = ClusterDirectory(directory)
    pid = where.pid()
    if pid is None:
        stale = where.address_file.exists()
        where.clear()
        raise CommandError(f"no cluster is up in {where.path}"
                           + (" (removed the address it left)" if stale else ""))
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + DOWN_SECONDS
    while where.pid() == pid:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)  # its processes die with it (PDEATHSIG)
            where.clear()
            break
        time.sleep(0.05)
    sys.stdout.write(f"Wukong cluster in {where.path} is down\n")
    return 0
