"""What a job costs on AWS Lambda: requests, GB-seconds billed per millisecond, dollars.

The unit tests price invocations written out by hand; the job tests price real runs on the
local runtime (an estimate for the configured memory size) and read it from the summary.
"""

from __future__ import annotations

from operator import add

import dask
import pytest
from dask.utils_test import inc

import wukong
from storage_manager.protocol import ExecutorEvents, TaskEvent
from wukong.measurement.cost import Pricing, invocation_spans, lambda_cost

T0 = 1_000.0


def task(index: int, start: float, end: float) -> TaskEvent:
    return TaskEvent(task=index, start=T0 + start, end=T0 + end, compute_seconds=end - start,
                     storage_seconds=0.0, round_trips=0, bytes_read=0, bytes_written=0)


def record(executor: str, started: float, *tasks: TaskEvent, sent: float = 0.0
           ) -> ExecutorEvents:
    return ExecutorEvents(executor, 1, T0 + sent, T0 + started, tasks)


def test_lambda_bills_each_invocation_rounded_up_to_the_millisecond():
    spans = invocation_spans([
        record("a", 0.0, task(0, 0.0, 0.0101)),            # 10.1 ms -> 11 ms
        record("b", 0.5, task(1, 0.5, 0.502)),             # 2 ms exactly
        record("c", 0.7, task(2, 0.7, 0.7)),               # nothing measurable: 1 ms
    ])
    assert [s.billed_ms for s in spans] == [11, 2, 1]
    pricing = Pricing(memory_mb=2048, architecture="x86_64", gb_second=0.5, request=0.25)
    cost = lambda_cost(spans, pricing, estimated=True)
    assert cost.requests == 3
    assert cost.gb_seconds == pytest.approx(2 * 0.014)
    assert cost.dollars == pytest.approx(3 * 0.25 + 2 * 0.014 * 0.5)


def test_lambda_invocation_records_merge_and_retries_count_again():
    """An invocation that shipped its events twice is one request, to its last task's end;
    the same invocation id started again (as Lambda retries an event) is a second one."""
    spans = invocation_spans([
        record("a", 0.0, task(0, 0.0, 0.1)),
        record("a", 0.0, task(1, 0.1, 0.3)),
        record("a", 1.0, task(0, 1.0, 1.05)),
    ])
    assert [(s.executor, s.tasks, s.billed_ms) for s in spans] == [("a", 2, 300), ("a", 1, 50)]


def test_lambda_prices_come_from_config_per_architecture():
    x86 = Pricing.from_config()
    assert (x86.architecture, x86.memory_mb) == ("x86_64", 2048)
    with dask.config.set({"wukong.aws.architecture": "arm64", "wukong.aws.memory": 1024}):
        arm = Pricing.from_config()
    assert arm.memory_mb == 1024
    assert arm.gb_second < x86.gb_second
    assert arm.request == x86.request > 0


@pytest.mark.parametrize(("settings", "named"), [
    ({"wukong.aws.memory": 64}, "wukong.aws.memory"),
    ({"wukong.aws.memory": 20_000}, "wukong.aws.memory"),
    ({"wukong.aws.memory": "big"}, "wukong.aws.memory"),
    ({"wukong.aws.architecture": "sparc"}, "wukong.aws.architecture"),
    ({"wukong.aws.prices.arm64.gb-second": -1, "wukong.aws.architecture": "arm64"},
     r"wukong.aws.prices.arm64.gb-second"),
    ({"wukong.aws.prices.x86_64.request": "free"}, r"wukong.aws.prices.x86_64.request"),
])
def test_lambda_cost_settings_that_make_no_sense_are_named(settings, named):
    with dask.config.set(settings), pytest.raises(ValueError, match=named):
        Pricing.from_config()


def test_lambda_cost_of_a_job_on_the_local_runtime(cluster, one_executor_per_leaf,
                                                   fan_ins_in_executors):
    """The estimate bills every invocation the job made, from its handler's start to its last
    task's end, and shows in the job's summary."""
    dsk = {"a": 1, "b": (inc, "a"), "c": (inc, "a"), "d": (add, "b", "c")}
    assert wukong.get(dsk, "d") == 4
    report = wukong.last_job()
    cost = report.cost
    assert cost.estimated
    assert cost.requests == report.executors_invoked == 2  # a leaf each; d runs in one
    ends: dict[tuple[str, float], float] = {}
    for ex in report.executors:
        ends[ex.executor, ex.started_at] = max(ends.get((ex.executor, ex.started_at), 0.0),
                                               *(t.end for t in ex.tasks))
    busy = sum(end - started for (_, started), end in ends.items())
    assert cost.gb_seconds >= 2048 / 1024 * busy
    assert cost.gb_seconds <= 2048 / 1024 * (busy + 0.001 * cost.requests)
    assert "estimated cost on Lambda (x86_64, 2,048 MB)" in report.summary()
    assert f"${cost.dollars:,.6f}" in report.summary()
    with dask.config.set({"wukong.aws.memory": 1024}):
        assert report.cost.gb_seconds == pytest.approx(cost.gb_seconds / 2)
