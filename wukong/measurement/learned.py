"""Learned task durations, CPU shares, GIL-free shares and output sizes, per task prefix,
shared by every client of a deployment: what the static scheduler's `Estimates` come from.

As in Dask distributed's scheduler, a task's expected duration (and here also its CPU share,
its GIL-free share and its output's size) is a moving average over earlier tasks with the
same prefix. Distributed keeps them in its scheduler across computations; Wukong has no
central scheduler, so they live in Redis hashes beside the runtime (on the first shard, named
by `FunctionKeys.estimates`). Every client of the deployment, in any process, reads and
improves the same estimates, they outlive a client's restart, and a job costs one round trip
before it starts (an HGETALL per hash, pipelined) and one after it ends (an HSET per hash
that learned something).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import redis

from static_scheduler import Estimates
from storage_manager.protocol import ExecutorEvents, FunctionKeys, TaskEvent

WEIGHT_OF_NEW = 0.5
"""How much one job's median moves the estimate (distributed uses the same 0.5)."""


class PrefixEstimates:
    """One measure of tasks (the event attribute `measure`; None where a task was not
    measured), averaged per prefix in the hash `FunctionKeys.estimates(name)`, and read into
    the `Estimates` attribute `field`."""

    name: str
    measure: str
    field: str

    def __init__(self, client: redis.Redis, function: str):
        self.client = client
        self.key = FunctionKeys(function).estimates(self.name)

    def observe(self, event: TaskEvent) -> float | None:
        return getattr(event, self.measure)

    def read(self) -> dict[str, float]:
        """The estimate per task prefix, as learned so far."""
        return decoded(self.client.hgetall(self.key))

    def fold(self, known: Mapping[str, float], prefixes: Sequence[str],
             executors: Iterable[ExecutorEvents]) -> dict[str, float]:
        """Fold one job's tasks into the estimates `known` at its start; the new estimates
        of the prefixes it ran, to be stored. A job counts with the median of each
        prefix's tasks, so a task preempted on a busy machine does not skew it."""
        observed: dict[str, list[float]] = defaultdict(list)
        for executor in executors:
            for event in executor.tasks:
                value = self.observe(event)
                if value is not None:
                    observed[prefixes[event.task]].append(value)
        learned = {}
        for prefix, values in observed.items():
            typical = statistics.median(values)
            old = known.get(prefix)
            learned[prefix] = typical if old is None else (
                (1 - WEIGHT_OF_NEW) * old + WEIGHT_OF_NEW * typical)
        return learned


def decoded(stored: dict[bytes, bytes]) -> dict[str, float]:
    return {name.decode(): float(value) for name, value in stored.items()}


class TaskDurations(PrefixEstimates):
    name, measure, field = "task-durations", "compute_seconds", "durations"


class TaskCpuShares(PrefixEstimates):
    name, measure, field = "task-cpu-share", "cpu_share", "cpu_shares"


class GilFreeShares(PrefixEstimates):
    name, measure, field = "task-gil-free", "gil_free", "gil_free"


class OutputSizes(PrefixEstimates):
    name, measure, field = "output-bytes", "output_bytes", "output_bytes"


class LearnedEstimates:
    """All the estimates of a deployment, read before a job in one round trip and stored
    after it in another (their hashes share the runtime's shard)."""

    def __init__(self, client: redis.Redis, function: str):
        self.client = client
        self.kinds = (TaskDurations(client, function), TaskCpuShares(client, function),
                      OutputSizes(client, function), GilFreeShares(client, function))

    def read(self) -> Estimates:
        pipe = self.client.pipeline(transaction=False)
        for kind in self.kinds:
            pipe.hgetall(kind.key)
        return Estimates(**{kind.field: decoded(stored)
                            for kind, stored in zip(self.kinds, pipe.execute(), strict=True)})

    def learn(self, known: Estimates, prefixes: Sequence[str],
              executors: Sequence[ExecutorEvents]) -> None:
        """Fold one job's tasks into the estimates it started from, and store them."""
        pipe = self.client.pipeline(transaction=False)
        for kind in self.kinds:
            learned = kind.fold(getattr(known, kind.field), prefixes, executors)
            if learned:
                pipe.hset(kind.key, mapping=learned)
        if len(pipe):
            pipe.execute()
