"""Wukong on its two platforms on one machine: the local platform (invocations pushed onto the
runtime's Redis list) against `wukong.platform=aws` on the local runtime's Lambda API fronts
(invocations through boto3 and the Invoke API, executors hosted by Wukong's worker loop or,
with `--interface-client awslambdaric`, by AWS's runtime interface client).

    python -m benchmarks.platforms [--repeat 3] [--gemm-n 4000 --gemm-chunk 1000]

Measures, on one cluster whose runtime serves Lambda's APIs (so both paths share its Redis
servers and workers):
- what one invocation costs its caller: an `Event` call of the Invoke API through boto3
  against an LPUSH onto the local queue (median of `--calls`), and a `RequestResponse` round
  trip of an invocation that finds its job gone;
- the mean time from asking for an executor to its handler starting, in a fan-out job;
- TR (1,024 leaves) and GEMM wall times on each platform (median of `--repeat`, after one
  uncounted warm-up run each).

Appends the records to `--out` (JSON lines) and writes a dated section at the top of
`--markdown`'s `## History` (benchmarks/RESULTS.md). The machine may be shared: the figures
are indicative.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import platform as host
import statistics
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from operator import add

import dask

import wukong
from benchmarks import history
from benchmarks.workloads import gemm, tree_reduction
from executor_lambda.platforms.local import QueueInvoker
from storage_manager.protocol import Invocation

HERE = pathlib.Path(__file__).parent
GONE = Invocation(job="benchmark-no-such-job", task=0)


def median_seconds(call: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def invocation_costs(cluster: wukong.LocalCluster, calls: int) -> list[dict]:
    import boto3

    client = boto3.client("lambda", endpoint_url=cluster.lambda_api_url)
    queue = QueueInvoker(cluster.shards.shards[0].client, cluster.function, cluster.signer)
    payload = GONE.encode(cluster.signer)
    event = median_seconds(lambda: client.invoke(
        FunctionName=cluster.function, InvocationType="Event", Payload=payload), calls)
    push = median_seconds(lambda: queue.invoke([GONE]), calls)
    sync = median_seconds(lambda: client.invoke(FunctionName=cluster.function,
                                                Payload=payload)["Payload"].read(), calls)
    return [{"experiment": "one invocation, caller's cost", "platform": "aws", "seconds": event,
             "path": "Invoke API, Event (boto3)"},
            {"experiment": "one invocation, caller's cost", "platform": "local",
             "seconds": push, "path": "LPUSH onto the runtime's queue"},
            {"experiment": "one invocation, round trip", "platform": "aws", "seconds": sync,
             "path": "Invoke API, RequestResponse (boto3), job gone"}]


def fan_out(width: int) -> dict:
    return {"root": (add, 1, 1), **{f"c-{i}": (add, "root", i) for i in range(width)},
            "total": (sum, [f"c-{i}" for i in range(width)])}


def jobs(get: Callable, settings: dict, platform_name: str, args: argparse.Namespace
         ) -> list[dict]:
    """TR, GEMM and a fan-out's invocation latency with the get function `get`, under
    `settings`."""
    workloads = {"TR 1,024 leaves": lambda: tree_reduction(1024),
                 f"GEMM {args.gemm_n:,}": lambda: gemm(args.gemm_n, args.gemm_chunk)}
    records = []
    with dask.config.set(settings):
        for label, build in workloads.items():
            dask.compute(*build(), scheduler=get)  # warm-up: workers, learned estimates
            walls = []
            for _ in range(args.repeat):
                collections = build()
                start = time.perf_counter()
                dask.compute(*collections, scheduler=get)
                walls.append(time.perf_counter() - start)
            records.append({"experiment": label, "platform": platform_name,
                            "seconds": statistics.median(walls), "path": "wall time"})
        get(fan_out(args.fan_out), "total")
        records.append({"experiment": f"fan-out {args.fan_out}", "platform": platform_name,
                        "seconds": wukong.last_job().invoke_latency,
                        "path": "mean request to handler start"})
    return records


def run(args: argparse.Namespace) -> list[dict]:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with dask.config.set({"wukong.runtime.lambda-api": True,
                          "wukong.runtime.interface-client": args.interface_client}):
        cluster = wukong.LocalCluster(shards=args.shards)
    try:
        records = invocation_costs(cluster, args.calls) + jobs(cluster.get, {}, "local", args)
        with tempfile.TemporaryDirectory() as keys:
            key_file = pathlib.Path(keys) / "key"  # the cluster's key, as deploy keeps one
            key_file.write_text(cluster.signer.to_text())
            key_file.chmod(0o600)
            aws = {"wukong.platform": "aws", "wukong.aws.function": cluster.function,
                   "wukong.redis.urls": cluster.redis_urls,
                   "wukong.aws.endpoint-url": cluster.lambda_api_url,
                   "wukong.security.key-file": str(key_file)}
            records += jobs(wukong.get, aws, "aws", args)
    finally:
        cluster.close()
    return records


def table(records: list[dict]) -> str:
    lines = ["| experiment | platform | what | seconds |", "|---|---|---|---:|"]
    lines += [f"| {r['experiment']} | {r['platform']} | {r['path']} | {r['seconds']:.4f} |"
              for r in records]
    return "\n".join(lines)


def write_history(markdown: pathlib.Path, args: argparse.Namespace, records: list[dict]) -> None:
    """A dated section at the top of the file's `## History` (the section is made if none)."""
    hosted = args.interface_client or "Wukong's worker loop"
    about = textwrap.fill(
        f"The local platform against `wukong.platform=aws` on the local runtime's Lambda API "
        f"fronts, one cluster ({args.shards} shard(s), executors hosted by {hosted}), "
        f"{os.cpu_count()}-core `{host.node()}`; indicative (the machine may have been "
        f"shared). Records in `{args.out}`.", 92)
    command = f"python -m benchmarks.platforms --repeat {args.repeat}"
    heading = f"### {history.now()}: platforms (`{command}`)"
    history.add_section(markdown, f"{heading}\n\n{about}\n\n{table(records)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.platforms", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--calls", type=int, default=200, help="invocations per cost measured")
    p.add_argument("--fan-out", type=int, default=256)
    p.add_argument("--gemm-n", type=int, default=4000)
    p.add_argument("--gemm-chunk", type=int, default=1000)
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--interface-client", choices=["awslambdaric"], default=None)
    p.add_argument("--out", default="benchmarks/platforms.jsonl", help="JSON lines, appended")
    p.add_argument("--markdown", type=pathlib.Path, default=HERE / "RESULTS.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    records = run(args)
    with open(args.out, "a") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    write_history(args.markdown, args, records)
    sys.stdout.write(table(records) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
