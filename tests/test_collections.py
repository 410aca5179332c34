"""Dask collections end to end: `.compute(scheduler="wukong")` must equal `scheduler="sync"`."""

from __future__ import annotations

import dask
import dask.array as da
import dask.bag as db
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import wukong


def both(*collections):
    """The same collections computed by Wukong and by Dask's synchronous scheduler."""
    return (dask.compute(*collections, scheduler="wukong"),
            dask.compute(*collections, scheduler="sync"))


@pytest.fixture
def x():
    return da.random.default_rng(42).random((1_000, 800), chunks=(250, 200))


def test_array_sum(cluster, x):
    """A reduction over 16 chunks, whole and along each axis."""
    got, want = both(x.sum(), x.sum(axis=0), x.mean(axis=1))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w)


def test_array_matmul(cluster, x):
    """GEMM: every output block is a fan-in over a row of blocks and a column of blocks."""
    (got,), (want,) = both(x @ x.T)
    assert got.shape == (1_000, 1_000)
    np.testing.assert_allclose(got, want)


def test_tall_skinny_svd(cluster):
    """The tall-and-skinny SVD (a QR tree, then a small SVD): singular values match and
    the factors reconstruct the input."""
    a = da.random.default_rng(7).random((2_000, 20), chunks=(500, 20))
    u, s, v = da.linalg.svd(a)
    (gu, gs, gv, ga), (_, ws, _, _) = both(u, s, v, a)
    np.testing.assert_allclose(gs, ws, rtol=1e-10)
    np.testing.assert_allclose(gs, np.linalg.svd(ga, compute_uv=False), rtol=1e-10)
    np.testing.assert_allclose((gu * gs) @ gv, ga, atol=1e-10)


def test_rechunk(cluster, x):
    """Rechunking splits and joins blocks across the whole graph."""
    y = x.rechunk((300, 350)) + x.T.rechunk((160, 1_000)).T
    (got,), (want,) = both(y)
    np.testing.assert_array_equal(got, want)


@pytest.fixture
def frame():
    rng = np.random.default_rng(3)
    n = 5_000
    return pd.DataFrame({
        "k": rng.integers(0, 50, n),
        "v": rng.random(n),
        "w": rng.integers(-100, 100, n),
        "s": rng.choice(["a", "b", "c"], n),
    })


def test_dataframe_groupby_aggregate(cluster, frame):
    """A tree reduction of partial aggregates, checked against Dask and against pandas."""
    df = dd.from_pandas(frame, npartitions=5)
    agg = df.groupby("k").agg({"v": ["sum", "mean"], "w": "max", "s": "count"})
    (got,), (want,) = both(agg)
    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index())
    expected = frame.groupby("k").agg({"v": ["sum", "mean"], "w": "max", "s": "count"})
    pd.testing.assert_frame_equal(got.sort_index(), expected, check_dtype=False)


def test_dataframe_merge(cluster, frame):
    """A hash join between two partitioned frames: a shuffle, all-to-all."""
    left = dd.from_pandas(frame, npartitions=4)
    right_pd = pd.DataFrame({"k": np.arange(0, 50, 2), "label": [f"L{i}" for i in range(25)]})
    right = dd.from_pandas(right_pd, npartitions=3)
    joined = left.merge(right, on="k", how="inner")
    (got,), (want,) = both(joined)

    def normal(d):
        return d.sort_values(["k", "v"]).reset_index(drop=True)

    pd.testing.assert_frame_equal(normal(got), normal(want))
    pd.testing.assert_frame_equal(normal(got), normal(frame.merge(right_pd, on="k")),
                                  check_dtype=False)


def test_bag_map_and_foldby(cluster):
    """Bag map/filter and foldby (a reduction keyed by a function)."""
    b = db.from_sequence(range(1_000), npartitions=8)
    mapped = b.map(lambda i: i * i).filter(lambda i: i % 3)
    folded = b.foldby(lambda i: i % 7, lambda acc, i: acc + i, 0,
                      combine=lambda p, q: p + q, combine_initial=0)
    got, want = both(mapped, folded)
    assert got[0] == want[0]
    assert sorted(got[1]) == sorted(want[1])
    assert sorted(got[1]) == sorted({r: sum(range(r, 1_000, 7)) for r in range(7)}.items())


BIG = 100 * 2**20


def test_100mb_array_chunk(cluster):
    """One 100 MB chunk as the result: written once to Redis and fetched by the client."""
    y = da.ones((BIG // 8,), chunks=BIG // 8) * 3
    got = y.compute(scheduler="wukong")
    assert got.nbytes == BIG
    assert got.dtype == np.float64
    assert np.all(got == 3)
    assert wukong.last_job().bytes_written >= BIG


def test_100mb_delayed_output_passed_on(cluster):
    """A 100 MB value handed to two dependents in other executors, and to the client."""
    big = dask.delayed(lambda: np.arange(BIG // 8, dtype=np.int64))()
    head = dask.delayed(lambda a: int(a[:10].sum()))(big)
    tail = dask.delayed(lambda a: int(a[-10:].sum()))(big)
    got_big, got_head, got_tail = dask.compute(big, head, tail, scheduler="wukong")
    assert got_big.nbytes == BIG
    assert got_big[-1] == BIG // 8 - 1
    assert (got_head, got_tail) == (45, sum(range(BIG // 8 - 10, BIG // 8)))


def test_persist(cluster, x):
    """`persist` runs the graph and rebuilds the collection around the computed chunks."""
    y = (x + 1).persist(scheduler="wukong")
    assert len(y.__dask_graph__()) == len(y.__dask_keys__()) * len(y.__dask_keys__()[0])
    np.testing.assert_array_equal(y.compute(scheduler="sync"),
                                  (x + 1).compute(scheduler="sync"))
