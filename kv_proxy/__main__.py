"""Run the KV proxy: `python -m kv_proxy --redis URL --function NAME`, or ask one what it is
doing: `python -m kv_proxy status --redis URL --function NAME` (JSON on stdout).

Serving prints one line, `ready`, on stdout once batches are taken; logs go to stderr.
SIGTERM or SIGINT stop it cleanly: it finishes every batch it holds first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys

import redis
import uvloop

from kv_proxy.service import Proxy
from kv_proxy.status import proxy_status


def parse_args(argv: list[str]) -> argparse.Namespace:
    status = bool(argv) and argv[0] == "status"
    p = argparse.ArgumentParser(prog="python -m kv_proxy" + (" status" if status else ""))
    p.add_argument("--redis", required=True, help="URL of the Redis holding the function's queue")
    p.add_argument("--function", default="wukong-executor")
    if not status:
        p.add_argument("--concurrency", type=int, default=128,
                       help="most invocations in flight: the function's concurrency limit")
        p.add_argument("--invoke-seconds", type=float, default=0.0,
                       help="latency model: what one invocation costs")
        p.add_argument("--log-level", default="WARNING")
    args = p.parse_args(argv[1:] if status else argv)
    args.status = status
    return args


async def serve(args: argparse.Namespace) -> None:
    proxy = Proxy(args.redis, args.function, args.concurrency, args.invoke_seconds)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, proxy.stop)

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()

    await proxy.serve(on_ready=ready)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.status:
        client = redis.Redis.from_url(args.redis)
        sys.stdout.write(json.dumps(proxy_status(client, args.function), indent=2) + "\n")
        client.close()
        return 0
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvloop.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
