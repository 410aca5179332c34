"""Tasks see under Wukong what they see under Dask's own schedulers: writable inputs and
results, their warnings reaching the caller, and the caller's `dask.config`."""

from __future__ import annotations

import dask
import numpy as np
import pytest

import wukong

LARGE = 200_000
"""Floats in a large array (1.6 MB): over `WRITABLE_BYTES`, it comes from Redis in place."""


def fill(x, value):
    """Writes into its input, as `da.store`'s `load_store_chunk` and in-place ops do."""
    x[...] = value
    return float(x.sum())


@pytest.mark.usefixtures("one_executor_per_leaf", "fan_ins_in_executors")
def test_inputs_and_results_are_writable(cluster):
    """Inputs read from Redis (large ones received in place, small ones in claims or inline
    payloads), data nodes of the graph and the results the client fetches are all writable."""
    dsk = {"big": (np.zeros, LARGE), "small": (np.zeros, 10),
           "data": np.zeros(LARGE), "tiny": np.zeros(3),
           "big-1": (fill, "big", 1), "big-2": (fill, "big", 2),
           "small-1": (fill, "small", 1), "small-2": (fill, "small", 2),
           "data-1": (fill, "data", 1), "tiny-1": (fill, "tiny", 1)}
    wanted = ["big-1", "big-2", "small-1", "small-2", "data-1", "tiny-1", "big", "small"]
    with dask.config.set({"wukong.locality.clustering": False,
                          "wukong.locality.delayed-io": False}):
        got = dict(zip(wanted, wukong.get(dsk, wanted), strict=True))
    assert wukong.last_job().bytes_read >= 8 * LARGE, "no executor read 'big' from Redis"
    assert got["big-1"] == LARGE and got["big-2"] == 2 * LARGE
    assert got["small-1"] == 10 and got["small-2"] == 20
    assert got["data-1"] == LARGE and got["tiny-1"] == 3
    for key in ("big", "small"):
        assert got[key].flags.writeable, key
        got[key] += 1
