"""Run the local runtime as its own process: `python -m executor_lambda.platforms.local`.

Refuses to serve a function another runtime serves on the same Redis (see `status`).
Prints one line, `ready`, on stdout once workers can be started; its log records and its
workers' go to stderr, one line each (see `protocol.log_records`), for the process that
started it to log. With `--lambda-api HOST:PORT` it also serves AWS Lambda's Invoke and
Runtime APIs there (`lambda_api`), and its executors start each other through that Invoke
API, as on Lambda.

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
from typing import TYPE_CHECKING

from executor_lambda.platforms.local.dispatcher import (
    ENV_RUNTIME_REDIS_URLS,
    Dispatcher,
    install_signal_handlers,
)
from executor_lambda.platforms.local.lambda_api import lambda_environment
from executor_lambda.platforms.local.settings import ENV_DUPLICATE_DELIVERY, RuntimeSettings
from executor_lambda.platforms.local.status import FunctionServed, RuntimeStatus
from executor_lambda.settings import ENV_PLATFORM, ExecutorSettings
from storage_manager.connections import urls_from_environ
from storage_manager.heap import heap_environment
from storage_manager.protocol import log_records

if TYPE_CHECKING:
    from executor_lambda.platforms.local.lambda_api.server import LambdaApi


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
    p.add_argument("--lambda-api", metavar="HOST:PORT", default=None,
                   help="serve AWS Lambda's Invoke and Runtime APIs there")
    p.add_argument("--interface-client", choices=["awslambdaric"], default=None,
                   help="host workers with AWS's runtime interface client (needs --lambda-api)")
    p.add_argument("--memory", type=int, default=2048,
                   help="the function's memory in MB, as Lambda's APIs report it")
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


def serve_lambda_api(args: argparse.Namespace, dispatcher: Dispatcher,
                     settings: RuntimeSettings) -> LambdaApi:
    """Lambda's APIs at `--lambda-api`, and Lambda's environment for the workers."""
    from executor_lambda.platforms.local.lambda_api.server import LambdaApi

    api = LambdaApi(dispatcher, settings, args.lambda_api)
    os.environ.update(lambda_environment(settings.function, args.memory, api.url))
    os.environ[ENV_PLATFORM] = "aws"  # executors start each other through the Invoke API
    if args.interface_client:
        dispatcher.environments = api
    return api


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.interface_client and not args.lambda_api:
        raise SystemExit("--interface-client needs --lambda-api: it pulls from the Runtime API")
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
        payload_limit=executor.invoker.payload_limit, memory_mb=args.memory,
        interface_client=args.interface_client,
        duplicate_delivery=os.environ.get(ENV_DUPLICATE_DELIVERY) == "1",
    )
    dispatcher = Dispatcher(settings)
    status = RuntimeStatus(dispatcher.shards.shards[0].client, function, dispatcher.counts)
    try:
        status.claim()
    except FunctionServed as exc:
        logging.getLogger(__name__).error("%s", exc)
        sys.exit(1)
    api = serve_lambda_api(args, dispatcher, settings) if args.lambda_api else None
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
        if api is not None:
            api.close()


if __name__ == "__main__":
    main()
