"""Learned task durations, per task prefix, shared by every client of a deployment.

As in Dask distributed's scheduler, a task's expected duration is a moving average of the
compute times of earlier tasks with the same prefix (`dask.utils.key_split` of the key:
`('add-9f1c', 3)` and `'add-77ab'` are both `add`). Distributed keeps them in its scheduler
across computations; Wukong has no central scheduler, so they live in one Redis hash beside
the runtime (on the first shard, keyed by the executor function). Every client of the
deployment, in any process, reads and improves the same estimates, they outlive a client's
restart, and a job costs one HGETALL before it starts and one HSET after it ends.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import redis
from dask.utils import key_split

from executor_lambda.events import ExecutorEvents

WEIGHT_OF_NEW = 0.5
"""How much one job's median moves the estimate (distributed uses the same 0.5)."""


def durations_key(function: str) -> str:
    return f"wk:fn:{function}:task-durations"


def task_prefixes(keys: Iterable[Any]) -> list[str]:
    return [key_split(key) for key in keys]


class TaskDurations:
    def __init__(self, client: redis.Redis, function: str):
        self.client = client
        self.key = durations_key(function)

    def read(self) -> dict[str, float]:
        """Seconds per task prefix, as learned so far."""
        return {name.decode(): float(value)
                for name, value in self.client.hgetall(self.key).items()}

    def learn(self, known: dict[str, float], prefixes: Sequence[str],
              executors: Iterable[ExecutorEvents]) -> dict[str, float]:
        """Fold one job's compute times into the estimates `known` at its start; the new
        estimates of the prefixes it ran, which are stored. A job counts with the median of
        each prefix's times, so a task preempted on a busy machine does not skew it."""
        seconds: dict[str, list[float]] = defaultdict(list)
        for executor in executors:
            for event in executor.tasks:
                seconds[prefixes[event.task]].append(event.compute_seconds)
        learned = {}
        for prefix, observed in seconds.items():
            typical = statistics.median(observed)
            old = known.get(prefix)
            learned[prefix] = typical if old is None else (
                (1 - WEIGHT_OF_NEW) * old + WEIGHT_OF_NEW * typical)
        if learned:
            self.client.hset(self.key, mapping=learned)
        return learned
