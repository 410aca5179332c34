"""How evenly a job's bytes spread over the Redis shards.

    python -m benchmarks.shard_spread [--shards 4] [--workloads GEMM,SVD-nn] [--repeat 3]

Runs quick-suite workloads on a `LocalCluster` with `--shards` shards (after one uncounted
warm-up each) and reads every shard's own count of the bytes it received (`INFO stats`,
`total_net_input_bytes`) before and after each job: outputs, chunks and the job's graph and
events, as Redis saw them. Prints each job's bytes per shard and the largest shard's share
over an even share (1.00 is perfectly even).
"""

from __future__ import annotations

import argparse
import logging
import sys

import dask

import wukong
from benchmarks import suites, workloads
from storage_manager.connections import redis_client

MiB = 2**20


def received(cluster: wukong.LocalCluster) -> list[int]:
    """Bytes each shard has received since it started (INFO needs the cluster's admin)."""
    counts = []
    for url in cluster.admin_urls:
        with redis_client(url, cluster.tls) as client:
            counts.append(int(client.info("stats")["total_net_input_bytes"]))
    return counts


def spread(cluster: wukong.LocalCluster, workload: workloads.Workload) -> list[int]:
    """Bytes each shard received during one run of `workload`."""
    collections = workload.build()
    before = received(cluster)
    dask.compute(*collections, scheduler=cluster.get)
    return [after - b for after, b in zip(received(cluster), before, strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shard_spread",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--workloads", default="GEMM,SVD-nn,SVD-ts")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    chosen = suites.suite("quick", args.workloads.split(","))
    lines = ["| workload | run | MiB per shard | largest / even share |", "|---|---:|---|---:|"]
    with wukong.LocalCluster(shards=args.shards) as cluster:
        for workload in chosen:
            warm_up = workload.warm_up(cluster.concurrency) if workload.warm_up else None
            dask.compute(*(warm_up or workload.build()), scheduler=cluster.get)
            for run in range(args.repeat):
                counts = spread(cluster, workload)
                even = sum(counts) / len(counts)
                lines.append(f"| {workload.label} | {run + 1} | "
                             f"{', '.join(f'{c / MiB:.1f}' for c in counts)} | "
                             f"{max(counts) / even:.2f} |")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
