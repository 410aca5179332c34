"""The executor's state machine: run a task, publish it, run the dependents it may, repeat.

One invocation starts with one task it may run (a leaf, or a dependent another executor
claimed for it), maybe with small inputs inline, or with a batch of leaves. A batch's region
(`BatchRegion`: the tasks only its leaves can make ready) runs here first, and its fan-ins
meet here with no Redis call; ready tasks outside it are invoked elsewhere until it is done,
so the batch never delays them. For each task:

1. gather its inputs (`Inputs`);
2. run it, here or, in a batch of tasks that mostly wait, on a pool of threads
   (`TaskRunner`);
3. publish it (`Publisher`): write the output if anyone outside this executor may read it,
   mark it done at its fan-in dependents, or hold it at those still waiting (delayed I/O);
4. of the ready dependents, run here all (a large output, one held unwritten, or while the
   job's work queue keeps every executor busy) or the first in DFS order, invoking
   executors for the rest.

Its state, each part's own: the tasks ready here (`ReadyStack`), the values held and inputs
received (`Inputs`), the tasks running on the pool (`TaskRunner`), the outputs held at
fan-ins, the fan-ins pinned here, the marks held back and the results not yet sent
(`Publisher`), the region's progress (`BatchRegion`), and the events not yet shipped
(`TaskRecorder`), the size of the next pull (`Puller`) and which tasks wait
(`WaitingTasks`).

Whenever nothing is ready here and a task could start, the executor pulls a batch from the
job's work queue (see `Puller`) and runs it as a batch, its region growing by the batch's;
as many as its threads free if the leaves it took last wait. The loop ends when no task is
ready here, none runs, nothing is held, no mark is held back, and a pull found the queue
empty (final: the queue only shrinks), or at the first task boundary or hold re-check
after its job is cancelled (`cancelled`, a local check: no Redis round trip). Results only
the client reads go out in batches (`ResultBatch`), flushed before the executor pulls,
waits or ends; marks held back (`DeferredMarks`) wait on over a pull, which may bring
their fan-ins' other parents, and go out before it waits or ends. Events are shipped with
any publish that may be the last, before its marks, so the client has them with the
results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dask.sizeof import sizeof

from executor_lambda.failures import ExecutorDied, UnserializableResult
from executor_lambda.loop.batch_region import BatchRegion
from executor_lambda.loop.inputs import Inputs
from executor_lambda.loop.publisher import Publisher
from executor_lambda.loop.puller import HAND_OVER_SECONDS, Puller
from executor_lambda.loop.ready_stack import ReadyStack
from executor_lambda.loop.resumption import StoredOutputs
from executor_lambda.loop.task_run import TaskRun
from executor_lambda.loop.task_runner import Finished, TaskRunner
from executor_lambda.loop.waiting import WaitingTasks
from executor_lambda.measurement import GilProbe, Notices, Snapshot, TaskRecorder, Timing
from executor_lambda.platforms import Invoker
from storage_manager import JobGone, JobStore
from storage_manager.protocol import Invocation

logger = logging.getLogger(__name__)


class TaskLoop:
    def __init__(self, store: JobStore, invoker: Invoker, invocation: Invocation,
                 on_task: Callable[[int], None] | None = None,
                 remaining_ms: Callable[[], int] | None = None,
                 first: TaskRun | None = None, started_at: float | None = None,
                 pool: ThreadPoolExecutor | None = None, probe: GilProbe | None = None,
                 notices: Notices | None = None,
                 pools: Callable[[int], ThreadPoolExecutor] | None = None,
                 carried: Snapshot | None = None, cancelled: Callable[[], bool] | None = None):
        self.graph = store.graph
        self.cancelled = cancelled or (lambda: False)
        self.invocation = invocation
        self.on_task = on_task
        """Told which task starts, so a platform can blame a crash on the right task."""
        started_at = started_at or time.time()
        if notices is None and self.graph.notices:
            notices = Notices(store.append_events, invocation, started_at, store.signer)
        self.recorder = TaskRecorder(store.stats, invocation, started_at, notices)
        self.inputs = Inputs(store, invocation.inputs)
        self.region = BatchRegion(self.graph, invocation.tasks) if invocation.batch else None
        self.publisher = Publisher(store, self.inputs, self.recorder, invoker, invocation,
                                   self.region, remaining_ms)
        queued = self.graph.queue.workers > 0
        waiting = WaitingTasks(self.graph, pools) if pools is not None and queued else None
        self.runner = TaskRunner(self.inputs, self.recorder, invocation.threads, pool, probe,
                                 first, waiting, self.graph.recovery.task_retries, carried)
        self.puller = Puller(store, invocation)
        self.stored = StoredOutputs(store, retry=invocation.attempt > 0)
        """What a retry need not run again: outputs checkpointed before (see `resumption`)."""
        self.invoker = invoker
        self.remaining_ms = remaining_ms
        self.publisher.others_busy = lambda: self.puller.active
        self._leaves: list[int] = list(invocation.tasks)
        """The leaves last taken (pulled, or started with): if some run on threads (their
        kind waits), a pull takes as many as the threads free, else its size grows from one
        (see `Puller`)."""

    def run(self) -> None:
        stack = ReadyStack(self.graph)
        stack.push(self.invocation.tasks)
        try:
            self.stored.look_up(self.invocation.tasks)
            while (stack or self.publisher.holds or self.runner.running
                   or self.puller.active or self.publisher.deferred):
                if self.cancelled():
                    logger.debug("job %s is cancelled; executor %s stops",
                                 self.invocation.job, self.invocation.id)
                    return
                here = self._step(stack)
                if here is None:
                    return
                stack.push(here)
                self._forget_unneeded(stack)
            self.publisher.flush_results(last=True)
            logger.debug("executor %s pulled %d times, at most %d tasks at once",
                         self.invocation.id, self.puller.pulls, self.puller.largest)
        except JobGone:
            logger.debug("job %s was cleaned up; executor %s stops", self.invocation.job,
                         self.invocation.id)
        except UnserializableResult as exc:  # the task's failure, though its function ran
            self.publisher.fail(exc.task, exc, Timing(time.time(), 0.0, self.recorder.snapshot()))
        finally:
            self.publisher.checkpoints.close()
            self.recorder.close()

    def _step(self, stack: ReadyStack) -> list[int] | None:
        """Do the next thing; the tasks it made ready here, or None if a task failed (or,
        a `retries=0` one, may not start again)."""
        runner, publisher, holds = self.runner, self.publisher, self.publisher.holds
        now = time.time()
        if holds.due(now):
            return publisher.end_holds(now, last=not stack and not runner.running)
        if stack and runner.has_room():
            if publisher.flush_due():
                return publisher.flush()
            task = stack.pop()
            if self.on_task is not None:
                self.on_task(task)
            resumed = self.stored.take(task)
            if resumed is not None:
                finished = Finished(resumed, self.recorder.snapshot())
                return self._complete(finished, last=not stack)
            if not self._may_start(task):
                return None
            self.recorder.started(task)
            finished = runner.run(task)
            return [] if finished is None else self._complete(finished, last=not stack)
        publisher.flush_results()  # nothing to start now: it pulls, waits or ends next
        if not stack and self.puller.active and runner.has_room():
            return self._pull()  # held marks wait on: the pull may bring their fan-ins' parents
        if publisher.deferred:
            return publisher.flush(last=not runner.running and not holds)
        if runner.running:
            finished = runner.next_finished(holds.next_wait(time.time()) if holds else None)
            if finished is None:  # a re-check of the held outputs is due
                return publisher.recheck(holds.fan_ins())
            return self._complete(finished, last=not stack and not runner.running)
        return publisher.recheck_holds()

    def _pull(self) -> list[int]:
        """A batch from the work queue, its region added to this invocation's; none, and
        the queue handed over, once this invocation's deadline is near."""
        if self.remaining_ms is not None and self.remaining_ms() < HAND_OVER_SECONDS * 1000:
            self.puller.hand_over(self.invoker)
            return []
        runner = self.runner
        waits = any(map(runner.runs_on_threads, self._leaves))
        tasks = self.puller.pull(runner.room() if waits else 1)
        self._leaves = tasks or self._leaves
        self.stored.look_up(tasks)
        if tasks:
            if self.region is None:
                self.region = self.publisher.region = BatchRegion(self.graph, tasks,
                                                                  planned=False)
            else:
                self.region.add(tasks)
        return tasks

    def _may_start(self, task: int) -> bool:
        """A `retries=0` task starts only once, whatever happens to its executor: if it
        started before (a delivery that was lost), it fails instead, naming why."""
        if self.graph.recovery.task_retries.get(task) != 0:
            return True
        if self.publisher.store.start_once(task):
            return True
        exc = ExecutorDied(f"Task {self.graph.key(task)!r} started before, in an executor that "
                           "was lost, and its retries=0 annotation forbids running it again "
                           f"(delivery attempt {self.invocation.attempt + 1}).")
        self.publisher.fail(task, exc, Timing(time.time(), 0.0, self.recorder.snapshot()))
        return False

    def _complete(self, finished: Finished, last: bool) -> list[int] | None:
        run, before = finished.run, finished.before
        self.recorder.noted(run.task, run.warnings, run.printed)
        if run.error is not None:
            self.publisher.fail(run.task, run.error, Timing(run.start, 0.0, before))
            return None
        timing = Timing(run.start, run.compute_seconds, before, sizeof(run.value), run.measures)
        return self.publisher.publish(run.task, run.value, timing, last)

    def _forget_unneeded(self, stack: ReadyStack) -> None:
        region = self.region
        needed = region.needed() if region is not None and region.waiting else ()
        publisher = self.publisher
        self.inputs.forget(stack.needs, needed, publisher.holds.pending, publisher.deferred)
        self.publisher.forget()
