"""What reading a value writable costs: received in place against copied after the read.

    python -m benchmarks.writable_reads [--repeat 7]

Starts one `redis-server`, stores a float64 array of each size, and times reading it back
and loading it (`storage_manager.loads`) three ways: hiredis's `bytes`, loaded read-only
(the old path); hiredis's `bytes` copied into a `bytearray`, then loaded (the simple way to
make it writable); and a shard's value connection (`writable_replies`), which receives it
into a `bytearray` in place. Prints the median and best of `--repeat` reads per way and size.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from storage_manager import dumps, loads
from storage_manager.shards import Shard
from wukong.redis_servers import ADMIN, RedisServer, RedisUsers, find_redis_server

MiB = 2**20
KEY = "bench:writable-reads"


def ways(shard: Shard) -> dict[str, Callable[[], object]]:
    return {
        "hiredis bytes, read-only": lambda: loads(shard.client.get(KEY)),
        "hiredis bytes + bytearray copy": lambda: loads(bytearray(shard.client.get(KEY))),
        "received into bytearray": lambda: loads(shard.values.get(KEY)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.writable_reads")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--sizes-mib", default="8,128")
    args = parser.parse_args(argv)
    server = RedisServer(find_redis_server(), RedisUsers.generate())
    try:
        shard = Shard(server.url(ADMIN))
        for mib in (int(s) for s in args.sizes_mib.split(",")):
            shard.client.set(KEY, dumps(np.ones(mib * MiB // 8)))
            for name, read in ways(shard).items():
                read()  # connect, and touch the allocator's pages once
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    read()
                    times.append(time.perf_counter() - start)
                sys.stdout.write(f"{mib:4d} MiB  {name:32s} median "
                                 f"{statistics.median(times) * 1e3:8.1f} ms  best "
                                 f"{min(times) * 1e3:8.1f} ms\n")
        shard.close()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
