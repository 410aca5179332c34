"""What executors record for their job where the platform would say nothing (AWS Lambda), and
how the client reads it, against the session's real Redis shards."""

from __future__ import annotations

import pytest
from conftest import idx, job

from executor_lambda import ExecutorDied
from executor_lambda.liveness import recorded
from storage_manager import JobStore, append_running_for, dumps
from storage_manager.protocol import Invocation, RunningRecord
from storage_manager.protocol.delivery import owner
from wukong.executor_watch import GRACE_MS, ExecutorWatch


@pytest.fixture
def store(cluster):
    graph = job(job_id="liveness")
    store = JobStore(cluster.shards, graph)
    store.upload(dumps(graph))
    yield store
    store.cleanup()


def test_lambda_invocation_records_its_start_and_end_and_reports_an_error(store):
    """An exception outside the tasks goes to the job's log at once, naming the task, and is
    raised again (for Lambda); the start and end are on the running stream."""
    task = idx(store.graph, "a")
    invocation = Invocation(job="liveness", task=task)
    with pytest.raises(RuntimeError, match="boom"), recorded(store.shards, invocation,
                                                             lambda: 60_000, "run0"):
        raise RuntimeError("boom")
    (_, entry), = store.read_log("0-0", 0)
    assert entry.is_error and entry.task == task
    _, records = store.running_since("0-0")
    start, end = (r for _, r in records)
    assert (start.invocation, start.task, start.left_ms) == (invocation.id, task, 60_000)
    assert start.payload and (start.run, end.run, end.task) == ("run0", "run0", -1)
    watch = ExecutorWatch(store)
    watch.check()  # it ended: nothing to find


def test_lambda_invocation_past_its_deadline_without_an_end_fails_the_job(store):
    watch = ExecutorWatch(store)
    task = idx(store.graph, "b")
    append_running_for(store.shards, "liveness", RunningRecord("alive", task, 60_000))
    watch.check()  # well within its deadline
    append_running_for(store.shards, "liveness",
                       RunningRecord("lost", task, -GRACE_MS - 1000))  # its deadline is past
    with pytest.raises(ExecutorDied, match=r"Executor lost .* did not end by its deadline"
                       ) as caught:
        watch.check()
    assert "'b'" in str(caught.value)


class RecordingInvoker:
    def __init__(self):
        self.invoked: list[Invocation] = []

    def invoke(self, invocations):
        self.invoked += invocations


def test_a_lost_lambda_delivery_is_delivered_again_until_its_retries_are_spent(store):
    """Past its deadline with no end, a delivery's invocation is invoked again from the
    payload its start recorded, with the next attempt, replacing that delivery (by its run)
    and no other; a retry that never starts is lost in turn; once `retries` are spent the
    job fails naming the task and every attempt."""
    invoker = RecordingInvoker()
    watch = ExecutorWatch(store, invoker)
    task = idx(store.graph, "b")
    lost = Invocation(job="liveness", task=task, retries=1)
    append_running_for(store.shards, "liveness", RunningRecord(
        lost.id, task, -GRACE_MS - 1000, "run0", 0, lost.encode(store.signer)))
    watch.check()
    (again,) = invoker.invoked
    assert (again.id, again.task, again.attempt) == (lost.id, task, 1)
    assert again.replaces == (owner(lost.id, 0, "run0"),)
    append_running_for(store.shards, "liveness", RunningRecord(
        lost.id, task, -GRACE_MS - 1000, "run1", 1, again.encode(store.signer)))
    with pytest.raises(ExecutorDied, match="delivered 2 times") as caught:
        watch.check()
    assert "'b'" in str(caught.value) and "attempt 2 did not end" in str(caught.value)
    assert len(invoker.invoked) == 1
