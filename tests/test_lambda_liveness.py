"""What executors record for their job where the platform would say nothing (AWS Lambda), and
how the client reads it, against the session's real Redis shards."""

from __future__ import annotations

import pytest
from conftest import idx, job

from executor_lambda import ExecutorDied
from executor_lambda.liveness import recorded
from storage_manager import JobStore, append_running_for, dumps
from storage_manager.protocol import Invocation, RunningRecord
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
                                                             lambda: 60_000):
        raise RuntimeError("boom")
    (_, entry), = store.read_log("0-0", 0)
    assert entry.is_error and entry.task == task
    _, records = store.running_since("0-0")
    assert [r for _, r in records] == [RunningRecord(invocation.id, task, 60_000),
                                       RunningRecord(invocation.id, -1)]
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
