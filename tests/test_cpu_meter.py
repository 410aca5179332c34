"""`CpuMeter`: whether a task computes or waits, measured on a real machine, busy or not.
Each measure is taken in a fresh process, as in an executor: the process's CPU time counts,
and this test process has threads of its own (the session's cluster's)."""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time

from executor_lambda.loop import TaskRun
from executor_lambda.measurement import CpuMeter, GilProbe

SPAWN = multiprocessing.get_context("spawn")


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def share_of(work, *args) -> float:
    meter, start = CpuMeter(), time.perf_counter()
    work(*args)
    return meter.share(time.perf_counter() - start)


def measured(work, *args) -> float:
    with SPAWN.Pool(1) as pool:
        return pool.apply(share_of, (work, *args))


def test_a_sleeping_task_waits_and_a_spinning_one_computes():
    assert measured(time.sleep, 0.05) < 0.25
    assert measured(spin, 0.05) > 0.75


def share_so_far(work, *args) -> float:
    """The share read from this thread while `work` runs on another, past its first half."""
    meters: queue.SimpleQueue = queue.SimpleQueue()

    def watched() -> None:
        meters.put(CpuMeter())
        work(*args)

    thread = threading.Thread(target=watched)
    thread.start()
    meter = meters.get()
    time.sleep(args[0] / 2)
    share = meter.share()
    thread.join()
    return share


def test_a_task_is_judged_from_another_thread_while_it_runs():
    with SPAWN.Pool(1) as pool:
        assert pool.apply(share_so_far, (time.sleep, 0.1)) < 0.25
        assert pool.apply(share_so_far, (spin, 0.1)) > 0.75


def shares_of_runs(work, runs: int, *args) -> list[float]:
    return [share_of(work, *args) for _ in range(runs)]


def test_a_computing_task_on_a_crowded_machine_still_computes():
    """With twice as many spinning processes as cores, the task gets a fraction of a CPU: its
    wall time is mostly waiting for one, which must not make it look idle; the same for
    every task a thread runs (each reads the thread's run delay anew)."""
    crowd = [SPAWN.Process(target=spin, args=(10.0,)) for _ in range(2 * (os.cpu_count() or 1))]
    for p in crowd:
        p.start()
    try:
        assert measured(spin, 0.3) > 0.75
        with SPAWN.Pool(1) as pool:
            assert min(pool.apply(shares_of_runs, (spin, 3, 0.2))) > 0.75
    finally:
        for p in crowd:
            p.terminate()
            p.join()


def nap(inputs):
    time.sleep(0.02)
    return inputs["x"] + 1


def test_a_task_run_measures_only_when_asked():
    measured_run = TaskRun.of(7, lambda: (nap, {"x": 1}), GilProbe())
    assert (measured_run.value, measured_run.task) == (2, 7)
    assert measured_run.measures.cpu_share is not None
    assert TaskRun.of(7, lambda: (nap, {"x": 1})).measures.cpu_share is None
