"""The executor's state machine: run a task, publish it, run the dependents it may, repeat.

One invocation starts with one task it may run (a leaf, or a dependent another executor
claimed for it), maybe with small inputs inline, or with a batch of leaves. A batch's
`Region` (the tasks only its leaves can make ready) runs here first, and its fan-ins meet
here with no Redis call; ready tasks outside it are invoked elsewhere until it is done, so
the batch never delays them. A batch of tasks that mostly wait runs up to `threads` of them
at once on a pool of threads: only their functions run there; gathering, publishing and
all the state below stay in this loop's thread. For each task:

1. gather inputs: held here, inline, returned by a fan-in claim (small ones only), else from
   Redis (one MGET per shard, then the chunks of very large values, shards in parallel);
2. run it;
3. publish (see `LocalityPolicy`): write the output if anyone outside this executor may
   read it, then mark it done at each fan-in dependent (idempotent; the call that completes
   the set claims the dependent and returns the small inputs stored beside it). A large output
   at fan-ins still waiting for other parents may instead be held: marked claim-if-last
   only, re-checked while the executor has nothing else to do, written and marked once its
   time is up (unless a last re-check then claims the fan-ins). A dependent whose only
   parent is this task is ready at once;
4. of the ready dependents, run all here (a large output, or one held unwritten) or the
   first in DFS order, invoking executors for the rest.

The loop ends when no task is ready here and nothing is held. Events are shipped with any
publish that may be the last, before its marks, so the client has them with the results.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from dask.sizeof import sizeof

from executor_lambda.failures import TaskFailure, UnserializableResult, dumps_result
from executor_lambda.gil_probe import GilProbe
from executor_lambda.holds import Holds
from executor_lambda.invocation import Invocation
from executor_lambda.invokers import Invoker
from executor_lambda.locality_policy import LocalityPolicy, Plan
from executor_lambda.ready_stack import ReadyStack
from executor_lambda.recorder import Snapshot, TaskRecorder
from executor_lambda.region import Region
from executor_lambda.task_run import Measures, TaskRun
from storage_manager import JobGone, JobStore, MarkResult, Publish, loads
from storage_manager.chunking import is_manifest

logger = logging.getLogger(__name__)

Timing = tuple[float, float, Snapshot, int, Measures]
"""A task's start, compute seconds, I/O totals before it, its output's size and what was
measured of it."""

CPU_SAMPLES = 16
"""Tasks per invocation that measure their CPU share: enough to learn from, and cheap even
when an invocation runs thousands of tiny tasks."""


class TaskLoop:
    def __init__(self, store: JobStore, invoker: Invoker, invocation: Invocation,
                 on_task: Callable[[int], None] | None = None,
                 remaining_ms: Callable[[], int] | None = None,
                 first: TaskRun | None = None, started_at: float | None = None,
                 pool: ThreadPoolExecutor | None = None, probe: GilProbe | None = None):
        self.store = store
        self.graph = store.graph
        self.invoker = invoker
        self.invocation = invocation
        self.on_task = on_task
        self.remaining_ms = remaining_ms
        self.policy = LocalityPolicy(self.graph)
        self.recorder = TaskRecorder(store.stats, invocation, started_at or time.time())
        self.first = first
        """The first task, already run from the invocation's seed: only published here."""
        self.threads = invocation.threads
        self.pool = pool
        """Runs up to `threads` tasks at once (a batch of waiting tasks); None: they run here."""
        self.running = 0
        self.finished: queue.SimpleQueue[tuple[TaskRun, Snapshot]] = queue.SimpleQueue()
        """Runs the pool has finished, each with the I/O its inputs' gathering did."""
        self.measured = 0
        self.probe = probe
        """Measures the first `CPU_SAMPLES` tasks run here (None: nothing is measured)."""
        self.values: dict[int, Any] = {}
        """Outputs held in this executor, kept only while a task here needs them."""
        self.received: dict[int, bytes] = dict(invocation.inputs)
        """Serialized inputs not yet loaded: inline, returned by fan-in calls, or fetched."""
        self.inline = set(invocation.inputs)
        """Inputs that came in the payload: not read from Redis."""
        self.holds = Holds()
        self.pinned: set[int] = set()
        """Fan-ins marked with outputs held here unwritten: if claimed, they run here."""
        self.region = Region(self.graph, invocation.tasks) if invocation.batch else None
        self.region_left = len(self.region) if self.region else 0
        """Tasks of the batch's region that have not run yet."""
        self.waiting: dict[int, int] = {}
        """Region tasks some of whose parents ran here: how many have not yet."""

    def run(self) -> None:
        stack = ReadyStack(self.graph)
        stack.push(self.invocation.tasks)
        try:
            while stack or self.holds or self.running:
                now = time.time()
                if self.holds.due(now):
                    here = self._end_holds(now, last=not stack and not self.running)
                elif stack and self.running < self.threads:
                    task = stack.pop()
                    if self.on_task is not None:
                        self.on_task(task)
                    if self.pool is None:
                        here = self._step(task, last=not stack)
                    else:
                        here = self._start(task)
                elif self.running:
                    here = self._finish_next(last=not stack)
                else:
                    here = self._recheck_holds()
                if here is None:
                    return
                stack.push(here)
                self._forget_unneeded(stack)
        except JobGone:
            logger.debug("job %s was cleaned up; executor %s stops", self.invocation.job,
                         self.invocation.id)
        except UnserializableResult as exc:  # the task's failure, though its function ran
            self._fail(exc.task, exc, time.time(), self.recorder.snapshot())

    def _step(self, task: int, last: bool) -> list[int] | None:
        """Run and publish one task; the dependents to run here, or None if it failed."""
        before = self.recorder.snapshot()
        run, self.first = self.first, None
        if run is None or run.task != task:
            run = TaskRun.of(task, lambda: self._node_and_inputs(task), self._probe_if_sampled())
        return self._complete(run, before, last)

    def _start(self, task: int) -> list[int] | None:
        """Gather a task's inputs here, then run it on the pool; it is published once done
        (`_finish_next`). Nothing runs here at once; None if gathering failed."""
        before, start = self.recorder.snapshot(), time.time()
        try:
            prepared = self._node_and_inputs(task)
        except Exception as exc:  # the task's failure, as in `TaskRun.of`
            self._fail(task, exc, start, before)
            return None
        gathered = self.recorder.since(before)
        self.pool.submit(lambda: self.finished.put(  # type: ignore[union-attr]
            (TaskRun.of(task, lambda: prepared), gathered)))
        self.running += 1
        return []

    def _finish_next(self, last: bool) -> list[int] | None:
        """Publish the next task the pool finishes; while outputs are held here, wait only
        until their next re-check is due."""
        wait = self.holds.next_wait(time.time()) if self.holds else None
        try:
            run, gathered = self.finished.get(timeout=wait)
        except queue.Empty:
            return self._recheck(self.holds.fan_ins())
        self.running -= 1
        before = self.recorder.since(gathered)  # now less its gathering: its own I/O only
        return self._complete(run, before, last and not self.running)

    def _complete(self, run: TaskRun, before: Snapshot, last: bool) -> list[int] | None:
        self.recorder.warned(run.task, run.warnings)
        if run.error is not None:
            self._fail(run.task, run.error, run.start, before)
            return None
        timing = (run.start, run.compute_seconds, before, sizeof(run.value), run.measures)
        return self._publish(run.task, run.value, timing, last)

    def _probe_if_sampled(self) -> GilProbe | None:
        """The first few tasks of each invocation run here measure their CPU share and
        GIL-free share. Tasks run on the pool do not: beside each other, waiting for the
        GIL looks like waiting on I/O, so what they measured would keep them on the pool
        whatever they do (and the probe serves one task at a time)."""
        self.measured += 1
        return self.probe if self.measured <= CPU_SAMPLES else None

    def _node_and_inputs(self, task: int) -> tuple[Any, dict]:
        inputs = self._gather(task)
        return self.graph.node(task), inputs

    def _gather(self, task: int) -> dict:
        graph, values, received = self.graph, self.values, self.received
        deps = graph.dependencies[task]
        missing = [d for d in deps if d not in values and d not in received
                   and d not in graph.data]
        if missing:
            received.update(self.store.fetch_outputs(missing))
        received.update(self.store.resolve_chunks(
            {d: received[d] for d in deps if d in received and d not in values}))
        inputs = {}
        for dep in deps:
            if dep not in values:
                values[dep] = graph.node(dep)() if dep in graph.data else self._load(dep)
            inputs[graph.key(dep)] = values[dep]
        return inputs

    def _load(self, dep: int) -> Any:
        """An input from outside, counted as read by the task that consumes it."""
        data = self.received.pop(dep)
        if dep in self.inline:
            self.inline.discard(dep)
        else:
            self.store.stats.bytes_read += len(data)
        return loads(data)

    def _publish(self, task: int, value: Any, timing: Timing, last: bool) -> list[int]:
        graph = self.graph
        local = self._ready_in_region(task)
        outside = [d for d in graph.dependents[task]
                   if self.region is None or d not in self.region]
        self.values[task] = value
        if not outside and task not in graph.results and (local or not last):
            start, compute, before, size, measures = timing  # in a batch's region: no publish
            self.recorder.record(task, start, compute, before, output_bytes=size,
                                 measures=measures)
            return local
        ready_now = [d for d in outside if not graph.is_fan_in(d)]
        fan_ins = [d for d in outside if graph.is_fan_in(d)]
        plan = self.policy.plan(task, value, timing[3], ready_now, fan_ins)
        publish = self.store.publish()
        if plan.write:
            publish.write_output(task, plan.blob)
        if task in graph.results:
            publish.announce("result", task)
        mine = [task] if plan.write else []
        for fan_in in fan_ins:
            self._mark(publish, fan_in, mine, [] if plan.write else [task], plan.hold)
        last = last and not local and not ready_now and not self.holds and not plan.hold
        results = self._ship(publish, task, timing, last)
        claimed = self._settle(results)
        if plan.hold:
            claimed += self._hold_or_write(task, results)
        ready = ready_now + [f for f in fan_ins if f in claimed]
        if plan.cluster or plan.hold or not ready:
            return local + ready
        pinned = [t for t in ready if t in self.pinned]
        free = [t for t in ready if t not in self.pinned]
        here = pinned or free[:1]
        if self.region_left and task in self.region:
            here = pinned  # the batch comes first; what it made ready elsewhere must not wait
        self._invoke([t for t in free if t not in here], task, plan)
        return local + here

    def _ready_in_region(self, task: int) -> list[int]:
        """The dependents in the batch's region that `task` completes: they run here, with
        no Redis call, since no other executor runs any of their parents."""
        region = self.region
        if region is None or task not in region:
            return []
        self.region_left -= 1
        ready = []
        for dependent in self.graph.dependents[task]:
            if dependent in region:
                left = self.waiting.pop(dependent, self.graph.waits_for[dependent]) - 1
                if left:
                    self.waiting[dependent] = left
                else:
                    ready.append(dependent)
        return ready

    def _mark(self, publish: Publish, fan_in: int, firm: list[int], tentative: list[int],
              hold: bool) -> None:
        """Mark at `fan_in`, including every output held here for it (claim-if-last)."""
        tentative = tentative + [t for t in self.holds.parents_at(fan_in)
                                 if t not in tentative]
        if tentative:
            self.pinned.add(fan_in)
        have = [p for p in self.graph.dependencies[fan_in]
                if p in self.values or p in self.received]
        publish.mark(fan_in, firm, tentative, have, hold)

    def _ship(self, publish: Publish, task: int, timing: Timing,
              last: bool) -> list[MarkResult]:
        """Execute `publish`, with the events if it may be the last; record the task."""
        start, compute, before, size, measures = timing
        self.recorder.record(task, start, compute, before, publish.round_trips, size, measures)
        flushed = last and self.recorder.flush(publish)
        results = publish.execute() if publish else []
        if not flushed:
            self.recorder.record(task, start, compute, before, output_bytes=size,
                                 measures=measures)
        return results

    def _settle(self, results: list[MarkResult]) -> list[int]:
        """Take what the claims returned; the fan-ins claimed here."""
        claimed = []
        for mark in results:
            if mark.claimed:
                claimed.append(mark.task)
                self.received.update(mark.inputs)
                self.holds.settle(mark.task)
        return claimed

    def _hold_or_write(self, task: int, results: list[MarkResult]) -> list[int]:
        """Hold the output at the fan-ins that let it; if any refused (another parent holds
        there), write it and mark it done everywhere instead. The fan-ins claimed."""
        waiting = {m.task for m in results if not m.claimed}
        if not waiting:
            return []
        if all(m.holding for m in results if not m.claimed):
            remaining = self.remaining_ms() / 1000 if self.remaining_ms else None
            self.holds.add(task, waiting, self.policy.hold_deadline(time.time(), remaining))
            return []
        return self._write_and_mark({task: waiting}, last=True)

    def _recheck_holds(self) -> list[int]:
        """Nothing else to do: wait a little, then re-check the held outputs' fan-ins."""
        time.sleep(self.holds.next_wait(time.time()))
        return self._recheck(self.holds.fan_ins())

    def _end_holds(self, now: float, last: bool) -> list[int]:
        """Holds whose time is up: re-check their fan-ins once more (the other parents may
        have finished while this executor was busy), then write and mark the outputs still
        waiting; the fan-ins claimed."""
        claimed = self._recheck(self.holds.due(now))
        due = self.holds.expire(now)
        return claimed + (self._write_and_mark(due, last and not claimed) if due else [])

    def _recheck(self, fan_ins: set[int]) -> list[int]:
        """Claim-if-last marks at `fan_ins` with the outputs held for them; those claimed."""
        first = next(iter(self.holds.pending))
        before = self.recorder.snapshot()
        publish = self.store.publish()
        for fan_in in sorted(fan_ins):
            self._mark(publish, fan_in, [], [], False)
        claimed = self._settle(publish.execute())
        self.recorder.amend(first, before)
        return claimed

    def _write_and_mark(self, outputs: dict[int, set[int]], last: bool) -> list[int]:
        """Write held outputs, then mark them done at their fan-ins; the fan-ins claimed.
        Each output's write is counted in its own task's event, the call in the first's."""
        recorder, publish = self.recorder, self.store.publish()
        for task in outputs:
            before = recorder.snapshot()
            publish.write_output(task, dumps_result(self.values[task], task,
                                                    self.graph.key(task)))
            recorder.amend(task, before)
        for fan_in in sorted(set().union(*outputs.values())):
            firm = [t for t, fan_ins in outputs.items() if fan_in in fan_ins]
            self._mark(publish, fan_in, firm, [], False)
        first, before = next(iter(outputs)), recorder.snapshot()
        ship = last and not self.holds and bool(recorder.events)
        if ship:
            recorder.amend(first, before, publish.round_trips)
            recorder.flush(publish)
        claimed = self._settle(publish.execute())
        if not ship:
            recorder.amend(first, before)
        return claimed

    def _fail(self, task: int, exc: Exception, start: float, before: Snapshot) -> None:
        logger.debug("task %r failed", self.graph.key(task), exc_info=True)
        self.recorder.record(task, start, 0.0, before)
        publish = self.store.publish()
        self.recorder.flush(publish)
        failure = TaskFailure.from_exception(exc, self.invocation.id)
        publish.announce("error", task, failure.encode())
        with contextlib.suppress(JobGone):
            publish.execute()

    def _invoke(self, tasks: list[int], source: int, plan: Plan) -> None:
        """Start executors for `tasks`, each with what inputs fit in its payload."""
        if tasks:
            job = self.invocation.job
            self.invoker.invoke([Invocation(job=job, task=t,
                                            inputs=self._inline_inputs(t, source, plan))
                                 for t in tasks])

    def _inline_inputs(self, task: int, source: int, plan: Plan) -> dict[int, bytes]:
        budget = self.policy.settings.inline_budget
        inputs: dict[int, bytes] = {}
        for parent in self.graph.dependencies[task]:
            data = plan.blob if parent == source else self.received.get(parent)
            if data is not None and len(data) <= budget and not is_manifest(data):
                inputs[parent] = bytes(data)
                budget -= len(data)
        return inputs

    def _forget_unneeded(self, stack: ReadyStack) -> None:
        needs, waiting, holding = stack.needs, self.waiting, self.holds.pending
        needed = {d for t in waiting for d in self.graph.dependencies[t]} if waiting else ()
        for held in (self.values, self.received):
            for task in [t for t in held if t not in needs and t not in needed
                         and t not in holding]:
                del held[task]
        self.inline &= set(self.received)
        self.pinned &= self.holds.fan_ins()
