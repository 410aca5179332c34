"""The KV proxy's command line: `python -m kv_proxy serve --function NAME` runs it;
`python -m kv_proxy status --function NAME` asks one what it is doing (JSON on stdout).

The Redis holding the function's queue is the first URL of `$WUKONG_REDIS_URLS`, with the
TLS files of `$WUKONG_REDIS_TLS_*` (see `storage_manager.connections`), so a password stays
off the command line; `--redis URL` names it instead, for a server without one.

Serving prints one line, `ready`, on stdout once batches are taken; its log records go to
stderr, one line each (see `protocol.log_records`), for the process that started it to log.
SIGTERM or SIGINT stop it cleanly: it finishes every batch it holds first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

import uvloop

from kv_proxy.service import Proxy
from kv_proxy.status import proxy_status
from storage_manager.connections import (
    ENV_REDIS_URLS,
    TlsFiles,
    redis_client,
    urls_from_environ,
)
from storage_manager.protocol import log_records


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m kv_proxy", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="make the batches of invocations handed to it")
    status = commands.add_parser("status", help="what a proxy is doing, as JSON")
    for command in (serve, status):
        command.add_argument("--redis", default=None,
                             help="URL of the Redis holding the function's queue (default: "
                                  f"the first of ${ENV_REDIS_URLS}; never a password here)")
        command.add_argument("--function", default="wukong-executor")
    serve.add_argument("--concurrency", type=int, default=128,
                       help="most invocations in flight: the function's concurrency limit")
    serve.add_argument("--invoke-seconds", type=float, default=0.0,
                       help="latency model: what one invocation costs")
    serve.add_argument("--platform", default="local",
                       help="where the function runs: local (the local runtime's queue) or "
                            "aws (AWS Lambda; region, credentials and endpoint from boto3's "
                            "chain, e.g. AWS_ENDPOINT_URL_LAMBDA)")
    serve.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if args.redis is None:
        urls = urls_from_environ()
        if not urls:
            parser.error(f"no Redis: set ${ENV_REDIS_URLS} (or give --redis)")
        args.redis = urls[0]
    return args


async def serve(args: argparse.Namespace) -> None:
    proxy = Proxy(args.redis, args.function, args.concurrency, args.invoke_seconds,
                  tls=TlsFiles.from_environ(), platform=args.platform)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proxy.stop)

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    await proxy.serve(on_ready=ready)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "status":
        client = redis_client(args.redis, TlsFiles.from_environ())
        sys.stdout.write(json.dumps(proxy_status(client, args.function), indent=2) + "\n")
        client.close()
        return 0
    log_records.configure("proxy", args.log_level)
    uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
