"""Cancelling a job (`wukong.cancel`, a job timeout, Ctrl-C): control comes back, and no
task of the job starts after it; the cluster runs the next job."""

from __future__ import annotations

import _thread
import os
import pathlib
import threading
import time

import background_jobs
import dask
import pytest
from background_jobs import in_background
from conftest import job_keys, wait_for

import wukong
from executor_lambda.platforms.local.cancels import Cancels
from storage_manager.protocol import cancel_record
from storage_manager.signing import Signer

LANES = 3
STEPS = 40
SECONDS = 0.2


def lanes(directory: pathlib.Path) -> dict:
    return background_jobs.lanes(directory, LANES, STEPS, SECONDS)


def started(directory: pathlib.Path) -> set[str]:
    return set(os.listdir(directory))


def assert_nothing_starts_after(directory: pathlib.Path, seen: set[str]) -> None:
    """No task file appears after control came back (a generous look: stragglers would
    start within a step's sleep)."""
    time.sleep(2.0)
    assert started(directory) == seen


def test_cancel_returns_control_and_no_task_starts_after(cluster, tmp_path):
    job, outcome = in_background(cluster, lanes(tmp_path), "end")
    wait_for(lambda: len(started(tmp_path)) >= LANES)
    ids = wukong.running_jobs()
    assert len(ids) == 1
    assert wukong.cancel() == ids
    job.join(timeout=30)
    assert not job.is_alive(), "cancel did not return control"
    seen = started(tmp_path)
    assert [type(exc) for exc in outcome] == [wukong.JobCancelled]
    assert wukong.running_jobs() == []
    assert len(seen) < LANES * STEPS
    assert_nothing_starts_after(tmp_path, seen)
    assert job_keys(cluster.admin_urls) == []
    assert wukong.get({"x": 1, "y": (sum, ["x", "x"])}, "y", cluster=cluster) == 2


def test_a_job_timeout_cancels_the_job(cluster, tmp_path):
    with dask.config.set({"wukong.client.job-timeout": 2}), \
            pytest.raises(wukong.JobTimeout, match="job-timeout"):
        wukong.get(lanes(tmp_path), "end", cluster=cluster)
    seen = started(tmp_path)
    assert len(seen) < LANES * STEPS
    assert_nothing_starts_after(tmp_path, seen)


def test_ctrl_c_in_compute_cancels_the_job(cluster, tmp_path):
    def interrupt() -> None:
        wait_for(lambda: len(started(tmp_path)) >= LANES)
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        wukong.get(lanes(tmp_path), "end", cluster=cluster)
    seen = started(tmp_path)
    assert len(seen) < LANES * STEPS
    assert_nothing_starts_after(tmp_path, seen)
    assert wukong.get({"x": 1, "y": (sum, ["x", "x"])}, "y", cluster=cluster) == 2


def test_cancel_of_an_unknown_job_cancels_nothing():
    assert wukong.cancel("no-such-job") == []


def test_executors_that_hear_the_cancel_start_no_task(cluster, tmp_path, monkeypatch):
    """Without the runtime stopping them (as on Lambda), executors hear the cancel on its
    channel and start no task of the job from their next task boundary, though a lane's
    tasks pass no Redis step between them (a chain runs in one executor, in memory)."""
    monkeypatch.setattr(cluster, "runtime_serves_queue", False)
    job, outcome = in_background(cluster, lanes(tmp_path), "end")
    wait_for(lambda: len(started(tmp_path)) >= LANES)
    wukong.cancel()
    job.join(timeout=30)
    assert not job.is_alive(), "cancel did not return control"
    assert [type(exc) for exc in outcome] == [wukong.JobCancelled]
    seen = started(tmp_path)
    time.sleep(2.0)
    settled = started(tmp_path)
    assert len(settled - seen) <= LANES, "a lane went on past the cancel"
    assert_nothing_starts_after(tmp_path, settled)


def test_a_cancel_record_needs_the_deployments_key():
    """The runtime stops a job only for a record tagged with the deployment's key; it finds
    the job's invocations among those waiting and arriving."""
    signer = Signer.generate()
    cancels = Cancels(signer)
    assert not cancels.take(b'{"job":"j1","task":0}')  # an invocation
    assert cancels.take(cancel_record("j1", Signer.generate()))  # forged: dropped
    assert cancels.take_new() == [] and not cancels.covers(b'{"job":"j1","task":0}')
    assert cancels.take(cancel_record("j1", signer))
    assert cancels.take_new() == ["j1"] and cancels.take_new() == []
    assert cancels.covers(b'{"job":"j1","task":3}')
    assert not cancels.covers(b'{"job":"j2","task":0}')
