"""Publishing a finished task: where its output goes and where its dependents run.

Decided per task by the `LocalityPolicy`: write the output if anyone outside this executor
may read it, then mark it done at each fan-in dependent (idempotent; the call that completes
the set claims the dependent and returns the small inputs stored beside it). A large output
at fan-ins still waiting for other parents may instead be held: marked claim-if-last only,
re-checked while the executor has nothing else to do, written and marked once its time is
up (unless a last re-check then claims the fan-ins). A dependent whose only parent is this
task is ready at once. Of the ready dependents, all run here (a large output, or one held
unwritten) or the first in DFS order, and executors are invoked for the rest, each with
what inputs fit in its payload. Inside a batch's region nothing is published: its
dependents there are ready at once, and a publish that may be the executor's last ships the
events recorded so far, before its marks. A task that took long also has its output
written when no one outside reads it, as a checkpoint for a retry (see `resumption`). A
result that no task reads waits in a batch of results written and announced together
(see `result_batch`), and a cheap task's marks may wait while there is more to run here
(see `deferred_marks`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from executor_lambda.failures import TaskFailure, dumps_result
from executor_lambda.loop.batch_region import BatchRegion
from executor_lambda.loop.deferred_marks import CHEAP_SECONDS, DeferredMarks
from executor_lambda.loop.holds import Holds
from executor_lambda.loop.inputs import Inputs
from executor_lambda.loop.locality_policy import LocalityPolicy, OutputPlan
from executor_lambda.loop.result_batch import ResultBatch
from executor_lambda.loop.resumption import CheckpointWriter, checkpoints
from executor_lambda.measurement import TaskRecorder, Timing
from executor_lambda.platforms import Invoker
from storage_manager import JobGone, JobStore, MarkResult, Publish
from storage_manager.chunking import is_manifest
from storage_manager.protocol import ERROR, RESULT, Invocation
from storage_manager.protocol.delivery import child_id

logger = logging.getLogger(__name__)


class Publisher:
    def __init__(self, store: JobStore, inputs: Inputs, recorder: TaskRecorder,
                 invoker: Invoker, invocation: Invocation, region: BatchRegion | None = None,
                 remaining_ms: Callable[[], int] | None = None):
        self.store = store
        self.graph = store.graph
        self.inputs = inputs
        self.recorder = recorder
        self.invoker = invoker
        self.invocation = invocation
        self.region = region
        self.remaining_ms = remaining_ms
        self.policy = LocalityPolicy(self.graph, store.signer)
        self.holds = Holds()
        self.checkpoints = CheckpointWriter(store)
        """Writes the checkpoints of tasks whose publish does not go to Redis."""
        self.results = ResultBatch(store)
        """Results no task reads, not yet written and announced (see `result_batch`)."""
        self.deferred = DeferredMarks(self.graph)
        """Fan-in marks of cheap tasks, held while there is more to run (`deferred_marks`)."""
        self.pinned: set[int] = set()
        """Fan-ins marked with outputs held here unwritten: if claimed, they run here."""
        self.claimed: set[int] = set()
        """Fan-ins this delivery claimed. A claim it holds is granted to it again (a step
        retried after a lost reply must get its answer), so a retry that runs parents of a
        fan-in again, whose set its dead predecessor completed, would otherwise be granted
        the fan-in once per parent: it runs at most once here."""
        self.others_busy: Callable[[], bool] = lambda: False
        """Whether every executor of the job is busy (its work queue was not empty at the
        last pull): ready tasks then all run here rather than start more executors than
        the platform runs at once."""

    def publish(self, task: int, value: Any, timing: Timing, last: bool) -> list[int]:
        """Publish a task that ran; the dependents to run here. `last`: nothing else is
        ready here, so this may be the executor's last step."""
        graph, region = self.graph, self.region
        local = region.ready_after(task) if region is not None else []
        outside = [d for d in graph.dependents[task] if region is None or d not in region]
        self.inputs.values[task] = value
        if task in graph.results and not graph.dependents[task]:
            return self._batch_result(task, value, timing, last)
        checkpoint = checkpoints(timing.compute_seconds, timing.output_bytes,
                                 graph.recovery.retries)
        if not outside and task not in graph.results and (local or not last):
            if checkpoint:
                self._checkpoint(task, value)
            self.recorder.record(task, timing)  # in a batch's region: no other publish
            return local
        ready_now = [d for d in outside if not graph.is_fan_in(d)]
        fan_ins = [d for d in outside if graph.is_fan_in(d)]
        keep = self.others_busy()
        if not ready_now and self._may_defer(task, timing, fan_ins, last and not keep):
            self.recorder.record(task, timing)
            return local + self.deferred.hold(task, fan_ins)
        plan = self.policy.plan(task, value, timing.output_bytes,
                                ready_now[:1] if keep else ready_now, fan_ins)
        publish = self.store.publish()
        if plan.write:
            publish.write_output(task, plan.blob)
        elif checkpoint and not plan.hold:
            publish.write_output(task, self._blob(task, value, plan))
        if task in graph.results:
            publish.announce(RESULT, task)
        mine = [task] if plan.write else []
        for fan_in in fan_ins:
            held = self._write_held(publish, self.deferred.release(fan_in))
            self._mark(publish, fan_in, mine + held, [] if plan.write else [task], plan.hold)
        last = last and not local and not ready_now and not self.holds and not plan.hold
        results = self._ship(publish, task, timing, last)
        claimed = self._settle(results)
        if plan.hold:
            claimed += self._hold_or_write(task, results)
        ready = ready_now + [f for f in fan_ins if f in claimed]
        if plan.cluster or plan.hold or not ready:
            return local + ready
        return local + self._run_here_or_invoke(task, ready, plan, keep)

    def _may_defer(self, task: int, timing: Timing, fan_ins: list[int], last: bool) -> bool:
        """Whether `task`'s marks at `fan_ins` may wait (see `deferred_marks`): it computed
        briefly, its output is small and no result, more is to run here, and no output
        held here waits at those fan-ins."""
        return (bool(fan_ins) and not last and timing.compute_seconds < CHEAP_SECONDS
                and task not in self.graph.results
                and timing.output_bytes < self.policy.settings.large_object_bytes
                and not any(self.holds.parents_at(f) for f in fan_ins))

    def flush_due(self) -> bool:
        """Whether held marks or pending results waited long enough to go out before the
        next task starts."""
        return self.deferred.overdue() or self.results.overdue()

    def flush(self, last: bool = False) -> list[int]:
        """Send the held marks, with their outputs, and the pending results in one step;
        the fan-ins it claimed, all to run here, as they would have one by one had each
        mark gone out at once. `last`: this may be the executor's last step."""
        if not self.deferred:
            self.flush_results(last)
            return []
        publish = self.results.take()[0] if self.results else self.store.publish()
        marks = self.deferred.take()
        written = self._write_held(publish, [p for ps in marks.values() for p in ps])
        for fan_in, parents in marks.items():
            self._mark(publish, fan_in, parents, [], False)
        return self._settle(self._execute_for(publish, written[-1], last))

    def _write_held(self, publish: Publish, parents: list[int]) -> list[int]:
        """Write the outputs of `parents`, whose marks were held (each once); `parents`."""
        for parent in dict.fromkeys(parents):
            publish.write_output(parent, self._blob(parent, self.inputs.values[parent]))
        return parents

    def _batch_result(self, task: int, value: Any, timing: Timing, last: bool) -> list[int]:
        """A result only the client reads joins the pending batch, which goes out now if it
        is full or nothing else is ready here. No dependents to run."""
        full = self.results.add(task, self._blob(task, value))
        self.recorder.record(task, timing)
        if full or last:
            self.flush_results(last)
        return []

    def flush_results(self, last: bool = False) -> None:
        """Write and announce the pending results, in one step; with the events if this may
        be the executor's last step. The loop calls it before it pulls, waits or ends, so
        no other publish needs to. The step's I/O is added to its last task's event if that
        was not shipped yet (each task's event ships once, whatever shipped meanwhile)."""
        if self.results:
            self._execute_for(*self.results.take(), last)

    def _execute_for(self, publish: Publish, task: int, last: bool) -> list[MarkResult]:
        """Execute a step whose I/O is added to `task`'s event if that was not shipped yet
        (each task's event ships once, whatever shipped meanwhile); with the events if this
        may be the executor's last step."""
        recorder, before = self.recorder, self.recorder.snapshot()
        ship = last and not self.holds and bool(recorder.events)
        if ship:
            recorder.amend(task, before, publish.round_trips)
            recorder.flush(publish)
        results = publish.execute()
        if not ship:
            recorder.amend(task, before)
        return results

    def _blob(self, task: int, value: Any, plan: OutputPlan | None = None) -> bytes:
        if plan is not None and plan.blob is not None:
            return plan.blob
        return dumps_result(value, task, self.graph.key(task), self.store.signer)

    def _checkpoint(self, task: int, value: Any) -> None:
        """Have the output of a task that took long written, for a retry (see `resumption`)."""
        self.checkpoints.write(task, self._blob(task, value))

    def _run_here_or_invoke(self, task: int, ready: list[int], plan: OutputPlan,
                            keep: bool) -> list[int]:
        """Of `ready`, those to run here: all of them if `keep` (every executor is busy),
        else the fan-ins pinned here, else the first; executors are invoked for the others.
        While a planned batch's region has tasks left, the batch comes first: what it made
        ready elsewhere must not wait. A pulled batch's region sized itself to its tasks'
        cost (see `Puller`), so what it made ready runs here first, depth first, as a
        single executor runs a tree."""
        pinned = [t for t in ready if t in self.pinned]
        free = [t for t in ready if t not in self.pinned]
        if keep:
            return pinned + free
        here = pinned or free[:1]
        region = self.region
        if region is not None and region.planned and region.left and task in region:
            here = pinned
        self._invoke([t for t in free if t not in here], task, plan)
        return here

    def fail(self, task: int, exc: Exception, timing: Timing) -> None:
        """Tell the client the task failed, with every event recorded so far."""
        logger.debug("task %r failed", self.graph.key(task), exc_info=exc)
        self.recorder.record(task, timing)
        publish = self.store.publish()
        self.recorder.flush(publish)
        failure = TaskFailure.from_exception(exc, self.invocation.id)
        publish.announce(ERROR, task, failure.encode(self.store.signer))
        with contextlib.suppress(JobGone):
            publish.execute()

    def forget(self) -> None:
        """Unpin the fan-ins no output here is held for any more."""
        if self.pinned:
            self.pinned &= self.holds.fan_ins()

    def _mark(self, publish: Publish, fan_in: int, firm: list[int], tentative: list[int],
              hold: bool) -> None:
        """Mark at `fan_in`, including every output held here for it (claim-if-last)."""
        tentative = tentative + [t for t in self.holds.parents_at(fan_in)
                                 if t not in tentative]
        if tentative:
            self.pinned.add(fan_in)
        values, received = self.inputs.values, self.inputs.received
        have = [p for p in self.graph.dependencies[fan_in] if p in values or p in received]
        publish.mark(fan_in, firm, tentative, have, hold)

    def _ship(self, publish: Publish, task: int, timing: Timing,
              last: bool) -> list[MarkResult]:
        """Execute `publish`, with the events if it may be the last; record the task (again
        once it ran, with its I/O, unless its event shipped with it or nothing was sent)."""
        recorder = self.recorder
        recorder.record(task, timing, publish.round_trips)
        recorder.ride(publish)
        flushed = last and recorder.flush(publish)
        if not publish:
            return []
        results = publish.execute()
        if not flushed:
            recorder.record(task, timing)
        return results

    def _settle(self, results: list[MarkResult]) -> list[int]:
        """Take what the claims returned; the fan-ins claimed."""
        claimed = []
        for mark in results:
            if mark.claimed and mark.task not in self.claimed:
                self.claimed.add(mark.task)
                claimed.append(mark.task)
                self.inputs.received.update(mark.inputs)
                self.holds.settle(mark.task)
        return claimed

    # -- held outputs (delayed I/O) -----------------------------------------------------------
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

    def recheck_holds(self) -> list[int]:
        """Nothing else to do: wait a little, then re-check the held outputs' fan-ins."""
        time.sleep(self.holds.next_wait(time.time()))
        return self.recheck(self.holds.fan_ins())

    def end_holds(self, now: float, last: bool) -> list[int]:
        """Holds whose time is up: re-check their fan-ins once more (the other parents may
        have finished while this executor was busy), then write and mark the outputs still
        waiting; the fan-ins claimed."""
        claimed = self.recheck(self.holds.due(now))
        due = self.holds.expire(now)
        return claimed + (self._write_and_mark(due, last and not claimed) if due else [])

    def recheck(self, fan_ins: set[int]) -> list[int]:
        """Claim-if-last marks at `fan_ins` with the outputs held for them; those claimed."""
        publish = self.store.publish()
        for fan_in in sorted(fan_ins):
            self._mark(publish, fan_in, [], [], False)
        return self._settle(self._execute_for(publish, next(iter(self.holds.pending)), False))

    def _write_and_mark(self, outputs: dict[int, set[int]], last: bool) -> list[int]:
        """Write held outputs, then mark them done at their fan-ins; the fan-ins claimed.
        Each output's write is counted in its own task's event, the call in the first's."""
        recorder, publish = self.recorder, self.store.publish()
        for task in outputs:
            before = recorder.snapshot()
            publish.write_output(task, dumps_result(self.inputs.values[task], task,
                                                    self.graph.key(task), self.store.signer))
            recorder.amend(task, before)
        for fan_in in sorted(set().union(*outputs.values())):
            firm = [t for t, fan_ins in outputs.items() if fan_in in fan_ins]
            self._mark(publish, fan_in, firm, [], False)
        return self._settle(self._execute_for(publish, next(iter(outputs)), last))

    # -- invoking ---------------------------------------------------------------------------
    def _invoke(self, tasks: list[int], source: int, plan: OutputPlan) -> None:
        """Start executors for `tasks`, each with what inputs fit in its payload."""
        if tasks:
            job, parent = self.invocation.job, self.invocation.id
            owner, retries = self.store.owner, self.graph.recovery.retries
            self.invoker.invoke([Invocation(job=job, task=t, id=child_id(parent, t),
                                            handed_by=owner, retries=retries,
                                            inputs=self._inline_inputs(t, source, plan))
                                 for t in tasks])

    def _inline_inputs(self, task: int, source: int, plan: OutputPlan) -> dict[int, bytes]:
        budget = self.policy.settings.inline_budget
        received = self.inputs.received
        inputs: dict[int, bytes] = {}
        for parent in self.graph.dependencies[task]:
            data = plan.blob if parent == source else received.get(parent)
            if data is not None and len(data) <= budget and not is_manifest(data):
                inputs[parent] = bytes(data)
                budget -= len(data)
        return inputs
