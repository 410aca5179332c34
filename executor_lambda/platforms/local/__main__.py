"""Run the local runtime as its own process: `python -m executor_lambda.platforms.local`.

Refuses to serve a function another runtime serves on the same Redis (see `status`).
Prints one line, `ready`, on stdout once workers can be started; its log records and its
workers' go to stderr, one line each (see `protocol.log_records`), for the process that
started it to log.

Which function it runs, its shards and the deployment's signing key come from the
environment (`ExecutorSettings`, which its workers inherit), and the shards as the runtime's
own Redis user from `ENV_RUNTIME_REDIS_URLS`, taken out of the environment before any worker
starts: secrets never travel on a command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

from executor_lambda.platforms.local.dispatcher import (
    ENV_RUNTIME_REDIS_URLS,
    Dispatcher,
    RuntimeSettings,
    install_signal_handlers,
)
from executor_lambda.platforms.local.status import FunctionServed, RuntimeStatus
from executor_lambda.settings import ExecutorSettings
from storage_manager.connections import urls_from_environ
from storage_manager.heap import heap_environment
from storage_manager.protocol import log_records


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m executor_lambda.platforms.local")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--idle-timeout", type=float, default=60.0)
    p.add_argument("--timeout", type=float, default=900.0)
    p.add_argument("--memory-limit", type=int, default=None, help="bytes per worker")
    p.add_argument("--keep-freed-bytes", type=int, default=0,
                   help="freed heap each worker keeps for its next values; 0: libc's default")
    p.add_argument("--cold-start-seconds", type=float, default=0.0,
                   help="latency model: what starting a new worker costs its first invocation")
    p.add_argument("--preload", action="append", default=[],
                   help="a module every worker starts with already imported (repeat)")
    p.add_argument("--log-level", default="WARNING")
    return p.parse_args(argv)


def watch_parent(dispatcher: Dispatcher) -> None:
    """Stop when the process that started us is gone, wherever PDEATHSIG is not available."""
    parent = os.getppid()
    while dispatcher.running:
        if os.getppid() != parent:
            dispatcher.stop()
            return
        time.sleep(1.0)


BLAS_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    for name in BLAS_THREADS:  # one executor per core at a time, as on Lambda; no oversubscription
        os.environ.setdefault(name, "1")
    for name, value in heap_environment(args.keep_freed_bytes).items():  # for the workers
        os.environ.setdefault(name, value)
    log_records.configure("runtime", args.log_level)
    os.environ[log_records.ENV_LOG_LEVEL] = args.log_level  # for the workers
    executor = ExecutorSettings.from_environ()  # the workers' configuration, inherited
    own_urls = urls_from_environ(name=ENV_RUNTIME_REDIS_URLS) or executor.redis_urls
    os.environ.pop(ENV_RUNTIME_REDIS_URLS, None)  # the workers never get the runtime's user
    function = executor.invoker.function
    settings = RuntimeSettings(
        redis_urls=own_urls, function=function, signer=executor.signer, tls=executor.tls,
        concurrency=args.concurrency,
        idle_timeout=args.idle_timeout, timeout=args.timeout, memory_limit=args.memory_limit,
        cold_start_seconds=args.cold_start_seconds, preload=tuple(args.preload),
    )
    dispatcher = Dispatcher(settings)
    status = RuntimeStatus(dispatcher.shards.shards[0].client, function, dispatcher.counts)
    try:
        status.claim()
    except FunctionServed as exc:
        logging.getLogger(__name__).error("%s", exc)
        sys.exit(1)
    install_signal_handlers(dispatcher)
    threading.Thread(target=watch_parent, args=(dispatcher,), daemon=True).start()

    def ready() -> None:
        status.start()
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    try:
        dispatcher.serve_forever(on_ready=ready)
    finally:
        status.stop()


if __name__ == "__main__":
    main()
