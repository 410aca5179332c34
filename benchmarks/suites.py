"""The suites: which workloads, at which sizes.

- quick: the paper's workloads at sizes one machine runs in minutes;
- paper: the paper's sizes;
- shapes: graphs beyond the paper's (`shapes`), and TR at 8,192 leaves;
- all: every workload of the others, each label once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from benchmarks.shapes import (
    chain_workload,
    map_reduce_workload,
    overhead_workload,
    random_dag_workload,
    shuffle_workload,
    tr_delay_variant,
)
from benchmarks.workloads import (
    Workload,
    gemm_workload,
    svc_workload,
    svd_nn_workload,
    svd_ts_workload,
    tr_delay_workload,
    tr_workload,
)

NAMES = ("TR", "TR-delay", "GEMM", "SVD-ts", "SVD-nn", "SVC",
         "map-reduce", "chain", "random-DAG", "shuffle", "overhead")
"""The workload families `--workloads` selects from."""

OVERHEAD_TASKS = 100_000


def _quick() -> list[Workload]:
    return [tr_workload(1_024), tr_delay_workload(256), gemm_workload(4_000, 1_000, 4_000),
            svd_ts_workload(200_000, 100, 40_000), svd_nn_workload(10_000, 2_000),
            svc_workload(100_000)]


def _paper() -> list[Workload]:
    return [tr_workload(1_024), tr_workload(4_096), tr_workload(16_384), tr_delay_workload(256),
            gemm_workload(10_000, 1_000, 5_000), gemm_workload(10_000, 2_000, 10_000),
            svd_ts_workload(200_000, 100, 40_000), svd_ts_workload(200_000, 1_000, 200_000),
            svd_nn_workload(10_000, 2_000), svc_workload(800_000)]


def _shapes() -> list[Workload]:
    return [tr_workload(8_192), tr_delay_workload(256), tr_delay_variant(256, "top"),
            tr_delay_variant(256, "mixed"), map_reduce_workload(100_000), chain_workload(10_000),
            random_dag_workload(1_000), random_dag_workload(10_000),
            shuffle_workload(1_000_000, 20),
            *(overhead_workload(shape, OVERHEAD_TASKS) for shape in ("independent", "chain",
                                                                      "tree"))]


def _all() -> list[Workload]:
    chosen: dict[str, Workload] = {}
    for make in (_quick, _paper, _shapes):
        for workload in make():
            chosen.setdefault(workload.label, workload)
    return list(chosen.values())


SUITES: dict[str, Callable[[], list[Workload]]] = {
    "quick": _quick, "paper": _paper, "shapes": _shapes, "all": _all}


def suite(name: str, only: Sequence[str] | None = None) -> list[Workload]:
    """The suite's workloads, restricted to the families in `only`."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    unknown = set(only or ()) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(NAMES)}")
    return [w for w in SUITES[name]() if not only or w.name in only]
