"""`GilProbe`: whether a task leaves the GIL free, measured on real tasks of each kind.

Measured in a fresh process with one BLAS thread, as in an executor (the local runtime and
Lambda's one vCPU give BLAS one thread): a BLAS pool spinning on every core of this test
process would starve the probe of a CPU, which no executor does."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np

from executor_lambda.measurement.gil_probe import MIN_SECONDS, GilProbe


def measured(probe: GilProbe, task) -> float | None:
    probe.start()
    start = time.perf_counter()
    task()
    return probe.share(time.perf_counter() - start)


def python_loop() -> None:
    until = time.perf_counter() + 0.06
    while time.perf_counter() < until:
        pass


def sleep() -> None:
    time.sleep(0.06)


def matmul() -> None:
    square = np.random.default_rng(0).random((1500, 1500))
    square @ square.T


def shares_of_each_kind() -> list[float | None]:
    probe = GilProbe()
    return [measured(probe, task) for task in (python_loop, sleep, matmul, python_loop)]


def test_python_holds_the_gil_while_sleeps_and_blas_leave_it_free(monkeypatch):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(name, "1")
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        loop, slept, blas, loop_again = pool.apply(shares_of_each_kind)
    assert loop < 0.4
    assert slept > 0.6
    assert blas > 0.6
    assert loop_again < 0.4  # measures stay apart


def test_tasks_too_short_to_tell_are_not_measured():
    probe = GilProbe()
    assert measured(probe, lambda: time.sleep(MIN_SECONDS / 4)) is None
