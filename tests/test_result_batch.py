"""Results that only the client reads go out in batches (`executor_lambda.loop.result_batch`):
one Redis step for many small results instead of one each, every result still delivered,
large ones included, and a task's failure still reported over the results pending."""

from __future__ import annotations

import numpy as np
import pytest
from dask.utils_test import inc

import wukong
from executor_lambda.loop.result_batch import MOST_BYTES

TASKS = 600


def test_small_results_go_out_many_to_a_step(cluster):
    dsk = {f"x-{i}": (inc, i) for i in range(TASKS)}
    assert list(cluster.get(dsk, list(dsk))) == [i + 1 for i in range(TASKS)]
    report = wukong.last_job()
    assert report.executors_invoked <= 4  # the work queue: a few executors pull them all
    assert report.round_trips < TASKS // 4  # one step per result would be 600 or more


def big(i: int) -> np.ndarray:
    return np.full(MOST_BYTES // 8 + 1, float(i))


def test_large_and_small_results_all_arrive(cluster):
    dsk = {**{f"small-{i}": (inc, i) for i in range(100)},
           **{f"big-{i}": (big, i) for i in range(6)}}
    values = dict(zip(dsk, cluster.get(dsk, list(dsk)), strict=True))
    assert [values[f"small-{i}"] for i in range(100)] == [i + 1 for i in range(100)]
    for i in range(6):
        assert values[f"big-{i}"].shape == (MOST_BYTES // 8 + 1,)
        assert (values[f"big-{i}"] == i).all()


def fails(i: int) -> int:
    raise ValueError(f"result {i} cannot be made")


def test_a_failure_is_reported_over_the_results_pending(cluster):
    dsk = {f"x-{i}": (inc, i) for i in range(300)}
    dsk["bad"] = (fails, 7)
    with pytest.raises(ValueError, match="result 7 cannot be made"):
        cluster.get(dsk, list(dsk))
