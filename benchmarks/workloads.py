"""The paper's workloads, built the way a user would build them, at each suite's sizes.

A workload's `build()` returns a tuple of Dask collections; every system computes that tuple
with `dask.compute(*collections)`. Builders take no time worth timing (the graph, not the data,
is made), except SVC's `fit` on 1,000 samples, which is part of the setup, not of the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import add
from typing import Any

import numpy as np

TR_DELAY_SECONDS = 0.05
SEED = 42


@dataclass(frozen=True)
class Workload:
    name: str
    """The family, as selected by `--workloads` (e.g. `TR`)."""
    variant: str
    """The size, e.g. `1,024 leaves`."""
    build: Callable[[], tuple]
    ideal_seconds: float | None = None
    """The critical path's length when every task could run at once (TR-delay)."""
    warm_up: Callable[[], tuple] | None = None
    """The uncounted warm-up run, when a smaller graph of the very same tasks will do (None:
    `build` itself). Its tasks must take as long as the timed run's, because schedulers learn
    task durations from it (Wukong batches cheap tasks by them, distributed steals work by
    them): small data would teach them that GEMM's matmuls are cheap."""
    compare: Callable[[Any, Any], bool] = field(default=lambda a, b: _all_close(a, b))

    @property
    def label(self) -> str:
        return f"{self.name} {self.variant}"


def _all_close(got: Any, want: Any) -> bool:
    if isinstance(want, (tuple, list)):
        return len(got) == len(want) and all(
            _all_close(g, w) for g, w in zip(got, want, strict=True))
    return bool(np.allclose(got, want, rtol=1e-6, atol=1e-8))


def _same_up_to_sign(got: Sequence, want: Sequence) -> bool:
    """Singular vectors are unique only up to sign; singular values are unique."""
    return _all_close(got[1], want[1]) and all(
        np.allclose(np.abs(g), np.abs(w), rtol=1e-5, atol=1e-8)
        for g, w in ((got[0], want[0]), (got[2], want[2])))


def delayed_add(a: float, b: float) -> float:
    """An add that takes as long as a small remote call: TR-delay's task."""
    time.sleep(TR_DELAY_SECONDS)
    return a + b


def tree_reduction(leaves: int, combine: Callable[[Any, Any], Any] = add) -> tuple:
    """Pairwise `combine` over `leaves` numbers with `dask.delayed`: 2 x leaves - 1 tasks."""
    from dask import delayed

    level = [delayed(float(i), name=f"leaf-{i}") for i in range(leaves)]
    combine_later = delayed(combine, pure=True)
    while len(level) > 1:
        level = [combine_later(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return (level[0],)


def gemm(n: int, chunk: int) -> tuple:
    import dask.array as da

    x = da.random.default_rng(SEED).random((n, n), chunks=(chunk, chunk))
    return (x @ x.T,)


def svd_tall_skinny(rows: int, cols: int, chunk_rows: int) -> tuple:
    import dask.array as da

    x = da.random.default_rng(SEED).random((rows, cols), chunks=(chunk_rows, cols))
    return tuple(da.linalg.svd(x))


def svd_square(n: int, chunk: int, k: int = 5) -> tuple:
    import dask.array as da

    x = da.random.default_rng(SEED).random((n, n), chunks=(chunk, chunk))
    return tuple(da.linalg.svd_compressed(x, k=k, seed=SEED))


def svc_predict(samples: int, chunks: int, fit_samples: int = 1_000) -> tuple:
    """dask-ml's ParallelPostFit: a scikit-learn SVC fitted locally, predicting in parallel."""
    from dask_ml.datasets import make_classification
    from dask_ml.wrappers import ParallelPostFit
    from sklearn.svm import SVC

    x, y = make_classification(n_samples=samples, n_features=20, chunks=samples // chunks,
                               random_state=SEED)
    model = ParallelPostFit(SVC(gamma="scale"))
    model.fit(x[:fit_samples].compute(scheduler="sync"), y[:fit_samples].compute(scheduler="sync"))
    return (model.predict(x),)


def _tr(leaves: int) -> Workload:
    return Workload("TR", f"{leaves:,} leaves", lambda: tree_reduction(leaves))


def _tr_delay(leaves: int) -> Workload:
    """The warm-up keeps the first level's width (as many workers busy at once) and the
    sleeping add, with one level above it: a few sleeps instead of the tree's depth."""
    depth = leaves.bit_length() - 1
    return Workload("TR-delay", f"{leaves:,} leaves, {TR_DELAY_SECONDS * 1000:g} ms adds",
                    lambda: tree_reduction(leaves, delayed_add),
                    ideal_seconds=depth * TR_DELAY_SECONDS,
                    warm_up=lambda: _first_level(leaves, delayed_add))


def _first_level(leaves: int, combine: Callable[[Any, Any], Any]) -> tuple:
    """`combine` over each pair of `leaves` numbers, and their sum: a tree cut after one level."""
    from dask import delayed

    pairs = [delayed(combine, pure=True)(float(i), float(i + 1)) for i in range(0, leaves, 2)]
    return (delayed(sum)(pairs),)


def _gemm(n: int, chunk: int) -> Workload:
    return Workload("GEMM", f"{n:,}² in {chunk:,}² chunks", lambda: gemm(n, chunk))


def _svd_ts(rows: int, cols: int) -> Workload:
    return Workload("SVD-ts", f"{rows:,} x {cols:,} in 10,000-row chunks",
                    lambda: svd_tall_skinny(rows, cols, 10_000), compare=_same_up_to_sign)


def _svd_nn(n: int, chunk: int) -> Workload:
    return Workload("SVD-nn", f"{n:,}² in {chunk:,}² chunks, k=5",
                    lambda: svd_square(n, chunk), compare=_same_up_to_sign)


def _svc(samples: int) -> Workload:
    return Workload("SVC", f"{samples:,} samples in 20 chunks", lambda: svc_predict(samples, 20))


NAMES = ("TR", "TR-delay", "GEMM", "SVD-ts", "SVD-nn", "SVC")

SUITES: dict[str, Callable[[], list[Workload]]] = {
    "quick": lambda: [
        _tr(1_024), _tr_delay(256), _gemm(4_000, 1_000), _svd_ts(200_000, 100),
        _svd_nn(10_000, 2_000), _svc(100_000),
    ],
    "paper": lambda: [
        _tr(1_024), _tr(4_096), _tr(16_384), _tr_delay(256),
        _gemm(10_000, 1_000), _gemm(10_000, 2_000),
        _svd_ts(200_000, 100), _svd_ts(200_000, 1_000),
        _svd_nn(10_000, 2_000), _svc(800_000),
    ],
}


def suite(name: str, only: Sequence[str] | None = None) -> list[Workload]:
    """The suite's workloads, restricted to the families in `only`."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; choose from {', '.join(SUITES)}")
    unknown = set(only or ()) - set(NAMES)
    if unknown:
        raise ValueError(f"unknown workload(s) {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(NAMES)}")
    return [w for w in SUITES[name]() if not only or w.name in only]
