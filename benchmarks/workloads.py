"""The paper's workloads, built the way a user would build them, at any size.

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
    warm_up: Callable[[int], tuple] | None = None
    """The uncounted warm-up run on a system that runs the given number of tasks at once, when
    a smaller graph of the very same tasks will do (None: `build` itself). Its tasks must take
    as long as the timed run's, because schedulers learn task durations from it (Wukong
    batches cheap tasks by them, distributed steals work by them): small data would teach
    them that GEMM's matmuls are cheap."""
    compare: Callable[[Any, Any], bool] = field(default=lambda a, b: _all_close(a, b))
    worker_imports: tuple[str, ...] = ()
    """Modules the tasks import in the workers beyond numpy and dask, which Wukong's workers
    can start with (`wukong.runtime.preload`) instead of each importing them."""
    own_work: Callable[[], float] | None = None
    """Measures the seconds the tasks' own functions take, called one after another in this
    process without a scheduler: the part of a run that is not the scheduler's overhead
    (None: the workload is not in the per-task overhead table)."""

    @property
    def label(self) -> str:
        return f"{self.name} {self.variant}"


def _all_close(got: Any, want: Any) -> bool:
    if isinstance(want, (tuple, list)):
        return len(got) == len(want) and all(
            _all_close(g, w) for g, w in zip(got, want, strict=True))
    return _close(got, want, rtol=1e-6)


COMPARE_BLOCK_ELEMENTS = 2**20


def _close(got: Any, want: Any, rtol: float, up_to_sign: bool = False) -> bool:
    """`np.allclose`, a block of rows at a time: the temporaries of a whole 160 MB result
    land on fresh pages, which made one comparison take a second instead of 0.15 s."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return False
    if got.ndim == 0:
        got, want = got.reshape(1), want.reshape(1)
    step = max(1, COMPARE_BLOCK_ELEMENTS // max(1, got[:1].size))
    for i in range(0, len(got), step):
        g, w = got[i:i + step], want[i:i + step]
        if up_to_sign:
            g, w = np.abs(g), np.abs(w)
        if not np.allclose(g, w, rtol=rtol, atol=1e-8):
            return False
    return True


def _same_up_to_sign(got: Sequence, want: Sequence) -> bool:
    """Singular vectors are unique only up to sign; singular values are unique."""
    return _all_close(got[1], want[1]) and all(
        _close(g, w, rtol=1e-5, up_to_sign=True)
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


TR_WARM_UP_LEAVES = 256


def tr_workload(leaves: int) -> Workload:
    """The warm-up is a smaller tree of the same adds."""
    return Workload("TR", f"{leaves:,} leaves", lambda: tree_reduction(leaves),
                    warm_up=lambda _: tree_reduction(min(leaves, TR_WARM_UP_LEAVES)))


def tr_delay_workload(leaves: int) -> Workload:
    """The warm-up is the first level, as wide as the system runs tasks at once (up to the
    leaves), with its sleeping adds, and their sum: every worker warm, after one sleep."""
    depth = leaves.bit_length() - 1
    return Workload("TR-delay", f"{leaves:,} leaves, {TR_DELAY_SECONDS * 1000:g} ms adds",
                    lambda: tree_reduction(leaves, delayed_add),
                    ideal_seconds=depth * TR_DELAY_SECONDS,
                    warm_up=lambda slots: _first_level(min(leaves, 2 * slots), delayed_add))


def _first_level(leaves: int, combine: Callable[[Any, Any], Any]) -> tuple:
    """`combine` over each pair of `leaves` numbers, and their sum: a tree cut after one level."""
    from dask import delayed

    pairs = [delayed(combine, pure=True)(float(i), float(i + 1)) for i in range(0, leaves, 2)]
    return (delayed(sum)(pairs),)


# The array workloads warm up on fewer chunks of the same size, where that graph still has
# every kind of task the run has (a reduction over more blocks adds partial sums): the same
# durations to learn, at a fraction of the run's cost. Otherwise on the workload itself, as
# the quick suite's GEMM does: after a warm-up on a quarter of its data, its first timed run
# paid for Redis and the workers growing into memory they had never touched (Wukong 2.53 s
# against 1.27-1.69 s for the rest; dist-1x64 1.74 against 1.22-1.40 s), one slow run in
# five that made the median a draw between two of the others.

def gemm_workload(n: int, chunk: int, warm_up_n: int) -> Workload:
    return Workload("GEMM", f"{n:,}² in {chunk:,}² chunks", lambda: gemm(n, chunk),
                    warm_up=lambda _: gemm(warm_up_n, chunk))


def svd_ts_workload(rows: int, cols: int, warm_up_rows: int, chunk_rows: int = 10_000) -> Workload:
    return Workload("SVD-ts", f"{rows:,} x {cols:,} in {chunk_rows:,}-row chunks",
                    lambda: svd_tall_skinny(rows, cols, chunk_rows), compare=_same_up_to_sign,
                    warm_up=lambda _: svd_tall_skinny(warm_up_rows, cols, chunk_rows))


def svd_nn_workload(n: int, chunk: int) -> Workload:
    """Its warm-up is itself: fewer chunks would drop the partial sums of its reductions."""
    return Workload("SVD-nn", f"{n:,}² in {chunk:,}² chunks, k=5",
                    lambda: svd_square(n, chunk), compare=_same_up_to_sign)


SVC_CHUNKS = 20
SVC_WARM_UP_CHUNKS = 4


def svc_workload(samples: int) -> Workload:
    chunk = samples // SVC_CHUNKS
    return Workload("SVC", f"{samples:,} samples in {SVC_CHUNKS} chunks",
                    lambda: svc_predict(samples, SVC_CHUNKS),
                    warm_up=lambda _: svc_predict(SVC_WARM_UP_CHUNKS * chunk, SVC_WARM_UP_CHUNKS),
                    worker_imports=("sklearn.svm", "dask_ml.wrappers"))
