"""`GilProbe`: whether a task leaves the GIL free, measured on real tasks of each kind."""

from __future__ import annotations

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


def test_python_holds_the_gil_while_sleeps_and_blas_leave_it_free():
    probe = GilProbe()
    square = np.random.default_rng(0).random((1500, 1500))
    assert measured(probe, python_loop) < 0.4
    assert measured(probe, lambda: time.sleep(0.06)) > 0.6
    assert measured(probe, lambda: square @ square.T) > 0.6
    assert measured(probe, python_loop) < 0.4  # measures stay apart


def test_tasks_too_short_to_tell_are_not_measured():
    probe = GilProbe()
    assert measured(probe, lambda: time.sleep(MIN_SECONDS / 4)) is None
