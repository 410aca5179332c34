"""Fan-in marks of cheap tasks held back while the executor has more to run
(`executor_lambda.loop.deferred_marks`), against the cluster's Redis: parents that ran here
meet in memory, and held marks reach Redis when they go out."""

from __future__ import annotations

import time
from operator import add

import pytest
from conftest import idx, inc, job

from executor_lambda.loop.deferred_marks import CHEAP_SECONDS, MOST_WAIT_SECONDS, DeferredMarks
from executor_lambda.loop.inputs import Inputs
from executor_lambda.loop.publisher import Publisher
from executor_lambda.measurement import TaskRecorder, Timing
from storage_manager import JobStore, dumps
from storage_manager.protocol import Invocation

DSK = {"d": 1, "a": (inc, "d"), "b": (inc, "d"), "c": (add, "a", "b"), "e": (inc, "c")}
"""a and b meet at c, a fan-in."""


class Invocations:
    def __init__(self):
        self.made = []

    def invoke(self, invocations):
        self.made += invocations


@pytest.fixture
def publisher(cluster, request):
    graph = job(f"deferred-{request.node.name}"[:40], keys=("e",),
                num_shards=len(cluster.shards), dsk=DSK)
    store = JobStore(cluster.shards, graph, owner="here")
    store.upload(dumps(graph), [])
    invocation = Invocation(job=graph.job_id, task=idx(graph, "a"), id="here")
    recorder = TaskRecorder(store.stats, invocation, time.time())
    publisher = Publisher(store, Inputs(store, {}), recorder, Invocations(), invocation)
    publisher.others_busy = lambda: True  # as while the work queue has work
    yield publisher
    store.cleanup()


def timing(publisher: Publisher, compute: float = 0.0001) -> Timing:
    return Timing(time.time(), compute, publisher.recorder.snapshot(), output_bytes=28)


def marked(publisher: Publisher, task: int) -> set[int]:
    """The parents marked done at fan-in `task` in Redis."""
    graph, store = publisher.graph, publisher.store
    client = store.shards.shards[graph.task_shard(task)].client
    return {int(m) for m in client.smembers(store.keys.done(task))}


def test_parents_that_ran_here_meet_in_memory(publisher):
    graph = publisher.graph
    a, b, c = idx(graph, "a"), idx(graph, "b"), idx(graph, "c")
    assert publisher.publish(a, 2, timing(publisher), last=False) == []
    assert publisher.publish(b, 2, timing(publisher), last=True) == [c]  # ready here
    assert marked(publisher, c) == set()  # no mark reached Redis
    assert not publisher.deferred


def test_held_marks_reach_redis_when_they_go_out(publisher):
    graph = publisher.graph
    a, c = idx(graph, "a"), idx(graph, "c")
    publisher.publish(a, 2, timing(publisher), last=False)
    assert a in publisher.deferred  # its value stays here while its mark is held
    assert marked(publisher, c) == set()
    assert publisher.flush() == []  # c still waits for b
    assert marked(publisher, c) == {a}
    assert publisher.store.fetch_outputs([a])  # written with its mark: c's claimer reads it
    assert a not in publisher.deferred


def test_a_step_that_marks_a_fan_in_takes_its_held_marks_along(publisher):
    graph = publisher.graph
    a, b, c = idx(graph, "a"), idx(graph, "b"), idx(graph, "c")
    publisher.publish(a, 2, timing(publisher), last=False)
    slow = timing(publisher, compute=CHEAP_SECONDS * 2)  # published at once
    assert publisher.publish(b, 2, slow, last=True) == [c]  # claimed through Redis
    assert marked(publisher, c) == {a, b}
    assert not publisher.deferred


def test_a_slow_task_or_the_last_step_marks_at_once(publisher):
    graph = publisher.graph
    a, c = idx(graph, "a"), idx(graph, "c")
    publisher.others_busy = lambda: False  # the work queue is drained
    publisher.publish(a, 2, timing(publisher), last=True)
    assert marked(publisher, c) == {a}


def test_held_marks_are_due_after_their_wait(cluster):
    graph = job("deferred-due", keys=("e",), num_shards=len(cluster.shards), dsk=DSK)
    now = [0.0]
    marks = DeferredMarks(graph, clock=lambda: now[0])
    a, b, c = idx(graph, "a"), idx(graph, "b"), idx(graph, "c")
    assert marks.hold(a, [c]) == [] and not marks.overdue()
    now[0] += MOST_WAIT_SECONDS
    assert marks.overdue()
    assert marks.release(c) == [a] and not marks and not marks.overdue()
    assert marks.hold(a, [c]) == [] and marks.hold(b, [c]) == [c] and not marks
