"""What the KV proxy buys under a model of a real platform's invocation latency.

    python -m benchmarks.invocation [--invoke-seconds 0.05] [--concurrency 256] [--out FILE]
                                    [--experiments fan-out,direct,tr,floor,batched]

(a) a fan-out of 1,000 from one task: the time from the root task's end until all 1,000
    children started, through the proxy and with the executor invoking them itself (the
    proxy stopped, so the executor falls back to direct invocation);
(b) a tree reduction over 4,096 leaves, one executor per leaf (cheap-task batching off, as
    in the paper): the time from submit until the last leaf started, through the proxy; and
    the same with the latency model off, the floor this machine's runtime sets (starting
    4,096 executors on its cores takes time whoever invokes them);
(c) the same tree with cheap-task batching on (the default), once its adds are known to be
    cheap: the leaves start in a few invocations.

Start times come from the job's per-task events (`wukong.last_job()`). Prints a markdown table
on stdout and appends one JSON record per run to `--out`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from operator import add

import dask

import wukong

FAN_OUT = 1000
TR_LEAVES = 4096
EXPERIMENTS = ("fan-out", "direct", "tr", "floor", "batched")
PER_LEAF = {"wukong.scheduling.batch-cheap-tasks": False, "wukong.scheduling.work-queue": False}
"""The paper's one executor per leaf: what the proxy must start."""


def fan_out_graph(width: int) -> dict:
    dsk: dict = {"root": (add, 0, 1)}
    for i in range(width):
        dsk[("child", i)] = (add, "root", i)
    dsk["total"] = (sum, [("child", i) for i in range(width)])
    return dsk


def tree_reduction_graph(leaves: int) -> dict:
    dsk: dict = {("tr", 0, i): (add, i, 1) for i in range(leaves)}
    level, width = 0, leaves
    while width > 1:
        for i in range(width // 2):
            dsk[("tr", level + 1, i)] = (add, ("tr", level, 2 * i), ("tr", level, 2 * i + 1))
        level, width = level + 1, width // 2
    dsk["total"] = ("tr", level, 0)
    return dsk


def children_started(cluster: wukong.LocalCluster, width: int) -> float:
    """Seconds from the root's end until the last of `width` children started."""
    if wukong.get(fan_out_graph(width), "total", cluster=cluster) != sum(range(1, width + 1)):
        raise RuntimeError(f"the fan-out of {width} computed a wrong total")
    tasks = wukong.last_job().tasks
    root = next(t for t in tasks if t.key == "root")
    return max(t.start for t in tasks if isinstance(t.key, tuple)) - root.end


def leaves_started(cluster: wukong.LocalCluster, leaves: int) -> float:
    """Seconds from submit until the last of `leaves` leaves started."""
    wukong.get(tree_reduction_graph(leaves), "total", cluster=cluster)
    report = wukong.last_job()
    starts = [t.start for t in report.tasks if t.key[:2] == ("tr", 0)]
    return max(starts) - report.submitted_at


def run(args: argparse.Namespace) -> list[dict]:
    settings = {"wukong.runtime.latency.invoke-seconds": args.invoke_seconds,
                "wukong.runtime.latency.cold-start-seconds": args.cold_start_seconds,
                "wukong.runtime.concurrency": args.concurrency}
    base = {"invoke_seconds": args.invoke_seconds, "concurrency": args.concurrency,
            "cold_start_seconds": args.cold_start_seconds, "time": time.time()}
    chosen = set(args.experiments.split(","))
    records = []
    with dask.config.set(settings), wukong.LocalCluster(shards=args.shards) as cluster:
        children_started(cluster, args.fan_out)  # warm-up: start the workers
        for _ in range(args.repeat):
            if "fan-out" in chosen:
                records.append({**base, "experiment": f"fan-out {args.fan_out}",
                                "path": "proxy", "metric": "all children started",
                                "seconds": children_started(cluster, args.fan_out)})
            if "tr" in chosen:
                with dask.config.set(PER_LEAF):
                    records.append({**base, "experiment": f"TR {args.leaves} leaves",
                                    "path": "proxy, one executor per leaf",
                                    "metric": "last leaf started",
                                    "seconds": leaves_started(cluster, args.leaves)})
            if "batched" in chosen:
                leaves_started(cluster, args.leaves)  # learns that the adds are cheap
                records.append({**base, "experiment": f"TR {args.leaves} leaves",
                                "path": "proxy, cheap leaves batched",
                                "metric": "last leaf started",
                                "seconds": leaves_started(cluster, args.leaves)})
        if "direct" in chosen:
            records += direct(cluster, args, base)
    if "floor" in chosen:
        records += floor(args, base)
    return records


def direct(cluster: wukong.LocalCluster, args: argparse.Namespace, base: dict) -> list[dict]:
    """The fan-out with the proxy stopped: the executor invokes every child itself."""
    cluster.stop_proxy()
    try:
        return [{**base, "experiment": f"fan-out {args.fan_out}", "path": "direct",
                 "metric": "all children started",
                 "seconds": children_started(cluster, args.fan_out)}
                for _ in range(args.repeat)]
    finally:
        cluster.start_proxy()


def floor(args: argparse.Namespace, base: dict) -> list[dict]:
    """The same TR with the latency model off: what this machine's runtime needs to start
    the leaves at all, the floor under the proxy's number."""
    settings = {"wukong.runtime.latency.invoke-seconds": 0.0,
                "wukong.runtime.concurrency": args.concurrency, **PER_LEAF}
    with dask.config.set(settings), wukong.LocalCluster(shards=args.shards) as cluster:
        leaves_started(cluster, args.leaves)  # warm-up
        return [{**base, "invoke_seconds": 0.0, "experiment": f"TR {args.leaves} leaves",
                 "path": "proxy, one executor per leaf, latency model off",
                 "metric": "last leaf started",
                 "seconds": leaves_started(cluster, args.leaves)}
                for _ in range(args.repeat)]


def table(records: list[dict]) -> str:
    lines = ["| experiment | path | metric | seconds |", "|---|---|---|---|"]
    lines += [f"| {r['experiment']} | {r['path']} | {r['metric']} | {r['seconds']:.3f} |"
              for r in records]
    proxy = [r["seconds"] for r in records if r["path"] == "proxy" and "fan" in r["experiment"]]
    direct = [r["seconds"] for r in records if r["path"] == "direct"]
    if proxy and direct:
        lines.append(f"\nfan-out speed-up through the proxy: {min(direct) / min(proxy):.1f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.invocation", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--invoke-seconds", type=float, default=0.05)
    p.add_argument("--cold-start-seconds", type=float, default=0.0)
    p.add_argument("--concurrency", type=int, default=256,
                   help="the runtime's concurrency limit, which also bounds the proxy")
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--fan-out", type=int, default=FAN_OUT)
    p.add_argument("--leaves", type=int, default=TR_LEAVES)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--experiments", default=",".join(EXPERIMENTS),
                   help=f"which to run, comma-separated, of {','.join(EXPERIMENTS)}")
    p.add_argument("--out", default="benchmarks/invocation.jsonl", help="JSON lines, appended")
    args = p.parse_args(argv)
    unknown = set(args.experiments.split(",")) - set(EXPERIMENTS)
    if unknown:
        p.error(f"--experiments: unknown {', '.join(sorted(unknown))}; "
                f"choose from {','.join(EXPERIMENTS)}")
    logging.basicConfig(level=logging.ERROR)
    records = run(args)
    with open(args.out, "a") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")
    sys.stdout.write(table(records) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
