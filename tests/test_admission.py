"""The local runtime's admission: more parallelism for invocations that block, none for
invocations that keep the cores busy. Real processes, judged by the kernel's statistics."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from executor_lambda.platforms.local import admission as admission_module
from executor_lambda.platforms.local.admission import (
    CORES,
    STARVE_SECONDS,
    Admission,
    others_fill_cores,
    runnable,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="needs /proc/<pid>/schedstat")

SLEEPER = "import time; print('asleep', flush=True); time.sleep(60)"
SPINNER = "while True: pass"


def started(code: str, n: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
            for _ in range(n)]


def asleep(processes: list[subprocess.Popen]) -> None:
    """Past interpreter start-up: from now on they only sleep."""
    for p in processes:
        assert p.stdout.readline() == b"asleep\n"


def stall(admission: Admission, processes: list[subprocess.Popen], waiting: int) -> None:
    open_window(admission, processes)
    time.sleep(0.02)  # the window; what the processes do in it is what counts
    admission.stalled(len(processes), waiting)


def open_window(admission: Admission, processes: list[subprocess.Popen]) -> None:
    """As the dispatcher does: the cap is seen full, then still full once armed."""
    time.sleep(admission.open_window(p.pid for p in processes))
    admission.open_window(p.pid for p in processes)


@pytest.fixture
def processes(monkeypatch):
    """The test's own processes. Only they count as the others that fill the cores: the
    machine's services (a CI machine runs brokers and databases beside the tests) are not
    the test's, and two of them running at both ends of a window once kept a cap shut."""
    running: list[subprocess.Popen] = []
    monkeypatch.setattr(admission_module, "others_fill_cores", lambda workers_running=0: (
        sum(runnable(p.pid) for p in running) - workers_running >= CORES))
    yield running
    for p in running:
        p.kill()
        p.wait()


def test_processes_that_fill_the_cores_are_seen_in_the_load_average():
    spinners = started(SPINNER, CORES)
    try:
        time.sleep(0.2)  # past their start-up: running from now on
        assert others_fill_cores()
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def test_blocking_invocations_get_all_waiting_work_admitted(processes):
    admission = Admission(limit=64)
    processes += started(SLEEPER, admission.cap)
    asleep(processes)
    stall(admission, processes, waiting=40)
    assert admission.cap == min(64, len(processes) + 40)


def test_blocked_invocations_admit_nothing_while_other_processes_fill_the_cores(processes):
    """Workers waiting on a Redis (or client, or proxy) that keeps every core busy are not
    leaving cores idle: more workers would only wait for a core too."""
    admission = Admission(limit=64)
    processes += started(SLEEPER, admission.cap)
    asleep(processes)
    processes += started(SPINNER, CORES)
    time.sleep(0.2)  # past their start-up: running from now on
    admission.finished()
    stall(admission, processes[:admission.cap], waiting=40)
    assert admission.cap == CORES


def test_cpu_bound_invocations_keep_the_cap_at_the_core_count(processes):
    admission = Admission(limit=64)
    processes += started(SPINNER, admission.cap)
    admission.finished()  # one just finished: the starvation rule stays out of this
    stall(admission, processes, waiting=40)
    assert admission.cap == CORES


def test_the_quiet_before_a_job_is_not_starvation(processes):
    """A full cap is doubled when nothing finished for `STARVE_SECONDS`, but the time the
    runtime stood idle before the job does not count."""
    admission = Admission(limit=64)
    admission.idle()
    time.sleep(2 * STARVE_SECONDS)
    processes += started(SPINNER, admission.cap)
    stall(admission, processes, waiting=40)
    assert admission.cap == CORES


def test_a_core_left_idle_by_a_blocked_invocation_admits_enough_to_fill_it(processes):
    """E.g. an executor holding an output at a fan-in whose other parent waits behind the
    cap, beside one that computes: more of the waiting work is admitted, and the rest in
    the next window if the core stays idle."""
    admission = Admission(limit=64)
    sleepers = started(SLEEPER, 1)
    processes += sleepers + started(SPINNER, admission.cap - 1)
    asleep(sleepers)
    stall(admission, processes, waiting=30)
    assert len(processes) < admission.cap < len(processes) + 30
    stall(admission, processes, waiting=30)  # the core is still idle: all of it
    assert admission.cap == len(processes) + 30


def test_a_window_stays_open_until_judged(processes):
    """Woken early by new work, the dispatcher keeps the window it opened: the workers are
    judged over all of it, not over a sliver of time in which they looked asleep."""
    admission = Admission(limit=64)
    processes += started(SLEEPER, admission.cap)
    asleep(processes)
    open_window(admission, processes)
    time.sleep(0.02)
    assert admission.open_window(p.pid for p in processes) == 0.0
    admission.stalled(len(processes), waiting=40)
    assert admission.cap == len(processes) + 40


def test_a_full_cap_with_nothing_finished_for_long_doubles_while_others_fill_the_cores(
        processes):
    """Workers blocked while other processes fill the cores may be waiting for work behind
    the cap: after `STARVE_SECONDS` without progress it doubles, once per such stretch."""
    admission = Admission(limit=64)
    workers = started(SLEEPER, admission.cap)
    processes += workers
    asleep(workers)
    processes += started(SPINNER, CORES)
    time.sleep(0.2)  # past their start-up: running from now on
    admission.open_window(p.pid for p in workers)  # the cap is seen full...
    time.sleep(STARVE_SECONDS)  # ...and nothing finishes
    stall(admission, workers, waiting=40)
    assert admission.cap == 2 * CORES
    admission.finished()
    stall(admission, workers, waiting=40)
    assert admission.cap == 2 * CORES


def test_workers_that_fill_the_cores_themselves_keep_the_cap_however_long_they_run(
        processes):
    """Long CPU-bound tasks wait for nothing: more workers would only share the cores."""
    admission = Admission(limit=64)
    processes += started(SPINNER, admission.cap)
    admission.open_window(p.pid for p in processes)
    time.sleep(2 * STARVE_SECONDS)
    stall(admission, processes, waiting=40)
    assert admission.cap == CORES


def test_growth_stops_at_the_limit_and_idle_resets_it(processes):
    admission = Admission(limit=CORES + 1)
    processes += started(SLEEPER, admission.cap)
    asleep(processes)
    stall(admission, processes, waiting=100)
    assert admission.cap == CORES + 1
    admission.idle()
    assert admission.cap == CORES


def test_nothing_waiting_never_grows(processes):
    admission = Admission(limit=64)
    processes += started(SLEEPER, admission.cap)
    stall(admission, processes, waiting=0)
    assert admission.cap == CORES
