"""The executor's state machine: run a task, publish it, become one ready dependent, repeat.

One invocation starts with one task it may run (a leaf, or a dependent another executor
claimed for it). For each task:

1. gather inputs from the local cache, from what the fan-in call returned, else from Redis
   (one MGET per shard);
2. run it;
3. publish: write the output if anyone outside this executor may read it, then mark it done
   in each fan-in dependent's set (idempotent; the call that completes the set claims the
   dependent and returns the inputs that live beside it). A dependent whose only parent is
   this task is ready at once and needs no Redis at all;
4. of the ready dependents, become the first in DFS order and invoke executors for the rest.

The loop ends when no dependent is ready here. Events are flushed in any publish that may be
the last, before its marks, so the client has every task's events once it has the results.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import Any

from executor_lambda.events import ExecutorEvents, TaskEvent
from executor_lambda.failures import TaskFailure
from executor_lambda.invocation import Invocation
from executor_lambda.invokers import Invoker
from storage_manager import JobGone, JobStore, Publish, dumps, loads

logger = logging.getLogger(__name__)


class TaskLoop:
    def __init__(self, store: JobStore, invoker: Invoker, invocation: Invocation,
                 on_task: Callable[[int], None] | None = None):
        self.store = store
        self.graph = store.graph
        self.invoker = invoker
        self.invocation = invocation
        self.on_task = on_task
        self.started_at = time.time()
        self.values: dict[int, Any] = {}
        """Outputs held in this executor, kept only while a task on the stack needs them."""
        self.received: dict[int, bytes] = {}
        """Serialized inputs returned by fan-in calls, not yet loaded."""
        self.events: list[TaskEvent] = []

    def run(self) -> None:
        stack = [self.invocation.task]
        try:
            while stack:
                task = stack.pop()
                if self.on_task is not None:
                    self.on_task(task)
                ready = self._step(task)
                if ready is None:
                    return
                if ready:
                    stack.append(ready[0])
                    self._invoke(ready[1:])
                self._forget_unneeded(stack)
        except JobGone:
            logger.debug("job %s was cleaned up; executor %s stops", self.invocation.job,
                         self.invocation.id)

    def _step(self, task: int) -> list[int] | None:
        """Run and publish one task; the ready dependents, or None if the task failed."""
        stats = self.store.stats
        before = (stats.seconds, stats.round_trips, stats.bytes_read, stats.bytes_written)
        start = time.time()
        try:
            inputs = self._gather(task)
            compute_start = time.perf_counter()
            value = self.graph.node(task)(inputs)
            compute = time.perf_counter() - compute_start
        except Exception as exc:
            self._fail(task, exc, start, before)
            return None
        del inputs
        return self._publish(task, value, start, compute, before)

    def _gather(self, task: int) -> dict:
        graph, values = self.graph, self.values
        deps = graph.dependencies[task]
        missing = [d for d in deps
                   if d not in values and d not in self.received and d not in graph.data]
        if missing:
            self.received.update(self.store.fetch_outputs(missing))
        inputs = {}
        for dep in deps:
            if dep not in values:
                values[dep] = graph.node(dep)() if dep in graph.data else self._load(dep)
            inputs[graph.keys[dep]] = values[dep]
        return inputs

    def _load(self, dep: int) -> Any:
        """An input read from Redis, counted as read by the task that consumes it."""
        data = self.received.pop(dep)
        self.store.stats.bytes_read += len(data)
        return loads(data)

    def _publish(self, task: int, value: Any, start: float, compute: float,
                 before: tuple) -> list[int]:
        graph, publish = self.graph, self.store.publish()
        if not graph.stays_local(task):
            publish.write_output(task, dumps(value))
        if task in graph.results:
            publish.announce("result", task)
        self.values[task] = value
        ready_at_once = []
        for dependent in graph.dependents[task]:
            if graph.is_fan_in(dependent):
                held = [p for p in graph.dependencies[dependent]
                        if p != task and (p in self.values or p in self.received)]
                publish.mark(dependent, task, held)
            else:
                ready_at_once.append(dependent)
        self._record(task, start, compute, before, publish.round_trips if publish else 0)
        flushed = not ready_at_once and self._flush_events(publish)
        claimed = set()
        for mark in publish.execute() if publish else ():
            if mark.claimed:
                claimed.add(mark.task)
                self.received.update(mark.inputs)
        if not flushed:
            self._record(task, start, compute, before, replace=True)
        return [d for d in graph.dependents[task] if d in claimed or not graph.is_fan_in(d)]

    def _fail(self, task: int, exc: Exception, start: float, before: tuple) -> None:
        logger.debug("task %r failed", self.graph.keys[task], exc_info=True)
        self._record(task, start, 0.0, before)
        publish = self.store.publish()
        self._flush_events(publish)
        failure = TaskFailure.from_exception(exc, self.invocation.id)
        publish.announce("error", task, failure.encode())
        with contextlib.suppress(JobGone):
            publish.execute()

    def _invoke(self, tasks: list[int]) -> None:
        if tasks:
            job = self.invocation.job
            self.invoker.invoke([Invocation(job=job, task=t) for t in tasks])

    def _forget_unneeded(self, stack: list[int]) -> None:
        needed = {d for t in stack for d in self.graph.dependencies[t]}
        for held in (self.values, self.received):
            for task in [t for t in held if t not in needed]:
                del held[task]

    def _record(self, task: int, start: float, compute: float, before: tuple,
                pending_round_trips: int = 0, replace: bool = False) -> None:
        """Record a task's event. An event shipped with its own publish counts that publish's
        round trips but not its time; otherwise `replace` updates it once the publish ran."""
        stats = self.store.stats
        if replace:
            self.events.pop()
        self.events.append(TaskEvent(
            task=task, start=start, end=time.time(), compute_seconds=compute,
            storage_seconds=stats.seconds - before[0],
            round_trips=stats.round_trips - before[1] + pending_round_trips,
            bytes_read=stats.bytes_read - before[2],
            bytes_written=stats.bytes_written - before[3],
        ))

    def _flush_events(self, publish: Publish) -> bool:
        if not self.events:
            return False
        inv = self.invocation
        record = ExecutorEvents(inv.id, os.getpid(), inv.sent_at, self.started_at,
                                tuple(self.events), inv.via)
        publish.record_events(dumps(record))
        self.events = []
        return True
