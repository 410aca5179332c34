"""`wukong demo`: a tree reduction and a small GEMM on the embedded local runtime, each checked
against Dask's threaded scheduler, with a one-screen summary."""

from __future__ import annotations

import time
from collections.abc import Callable
from operator import add
from typing import Any

import dask
import numpy as np

import wukong


def tree_reduction(leaves: int) -> tuple[dict, tuple]:
    """Pairwise add over `leaves` numbers: the paper's TR workload."""
    dsk: dict = {("tr", 0, i): i for i in range(leaves)}
    level, width = 0, leaves
    while width > 1:
        for i in range(width // 2):
            dsk[("tr", level + 1, i)] = (add, ("tr", level, 2 * i), ("tr", level, 2 * i + 1))
        level, width = level + 1, width // 2
    return dsk, ("tr", level, 0)


def _timed(run: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = run()
    return value, time.perf_counter() - start


def run_demo(out: Callable[[str], None] = print) -> bool:
    """Run both workloads; True when every result matched Dask's."""
    import dask.array as da

    ok = True
    started, cluster_start = _timed(lambda: wukong.LocalCluster())
    with started as cluster:
        out(f"Started {cluster!r} in {cluster_start:.2f} s")
        dsk, key = tree_reduction(1024)
        cluster.get(dsk, key)  # warm the workers
        got, took = _timed(lambda: cluster.get(dsk, key))
        want, took_threads = _timed(lambda: dask.get(dsk, key))
        ok &= got == want
        out(f"\nTree reduction, 1,024 leaves: {got} ({'matches' if got == want else 'DIFFERS'})")
        out(f"  wukong {took:.3f} s, dask threads {took_threads:.3f} s")
        out(f"  {wukong.last_job().summary()}")

        x = da.random.default_rng(42).random((2000, 2000), chunks=(500, 500))
        gemm = x @ x.T
        got, took = _timed(lambda: gemm.compute(scheduler=cluster.get))
        want, took_threads = _timed(lambda: gemm.compute(scheduler="threads"))
        same = bool(np.allclose(got, want))
        ok &= same
        out(f"\nGEMM x @ x.T, 2,000² in 500² chunks: {'matches' if same else 'DIFFERS'}")
        out(f"  wukong {took:.3f} s, dask threads {took_threads:.3f} s")
        out(f"  {wukong.last_job().summary()}")
    out("\nAll results match Dask." if ok else "\nSome results differ from Dask!")
    return ok
