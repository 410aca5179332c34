"""Running an invocation's tasks: here, one at a time, or up to `threads` at once on a pool.

A batch of tasks the plan knows to wait runs on a warm thread pool; so does any task that
`WaitingTasks` has seen to wait in this invocation (the others run here, and the first of
each kind is measured). The first task of a kind not judged yet starts on the pool and is
watched: it is judged by its CPU share over its first `JUDGE_SECONDS`, so a task that waits
for seconds holds up nothing behind it while it is measured. Only their functions run
there; gathering inputs, publishing and all the loop's state stay in the loop's thread.
The first task may have run already, from the invocation's seed (see `GraphSeed`): it is
then only handed back to be published. A task with Dask's `retries=n` annotation that
raises is run again, up to n times, before its error is published
(`Recovery.task_retries`).
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from executor_lambda.loop.inputs import Inputs
from executor_lambda.loop.task_run import TaskRun
from executor_lambda.loop.waiting import WaitingTasks
from executor_lambda.measurement import CpuMeter, GilProbe, Measures, Snapshot, TaskRecorder
from storage_manager.queue_plan import WAITING_CPU_SHARE

logger = logging.getLogger(__name__)

CPU_SAMPLES = 16
"""Tasks per invocation that measure their CPU share: enough to learn from, and cheap even
when an invocation runs thousands of tiny tasks."""

JUDGE_SECONDS = 0.002
"""How long the first task of a kind not judged yet runs before its CPU share so far tells
whether it waits: long against starting a thread, short against a task that waits."""


@dataclass(slots=True)
class Finished:
    """A task's run, to be published."""

    run: TaskRun
    before: Snapshot
    """The I/O totals the task's own I/O is counted from (its gathering included)."""


class TaskRunner:
    def __init__(self, inputs: Inputs, recorder: TaskRecorder, threads: int = 1,
                 pool: ThreadPoolExecutor | None = None, probe: GilProbe | None = None,
                 first: TaskRun | None = None, waiting: WaitingTasks | None = None,
                 retries: Mapping[int, int] | None = None, carried: Snapshot | None = None):
        self.inputs = inputs
        self.carried = carried
        """I/O made for the first task before the loop (its claim), counted as its own."""
        self.retries = retries or {}
        """How many times a task that raises runs again, by task (its annotation)."""
        self.recorder = recorder
        self.threads = threads
        self.pool = pool
        """Runs up to `threads` tasks at once (a batch of waiting tasks); None: they run here."""
        self.probe = probe
        """Measures the first `CPU_SAMPLES` tasks run here (None: nothing is measured)."""
        self.first = first
        self.waiting = waiting
        """Tells tasks that wait from the rest as they run (None: only the plan's pool)."""
        self.running = 0
        """Tasks on the pool not yet handed back."""
        self._measured = 0
        self._finished: queue.SimpleQueue[tuple[TaskRun, Snapshot]] = queue.SimpleQueue()
        """Runs the pool has finished, each with the I/O its inputs' gathering did."""

    def has_room(self) -> bool:
        return self.room() > 0

    def runs_on_threads(self, task: int) -> bool:
        """Whether `task` would run on a pool of threads: a planned batch's, or of a kind
        that waits."""
        return self.pool is not None or (self.waiting is not None and self.waiting.waits(task))

    def room(self) -> int:
        """How many more tasks could run at once."""
        most = self.threads
        if self.pool is None and self.waiting is not None:
            most = max(most, self.waiting.threads)
        return most - self.running

    def run(self, task: int) -> Finished | None:
        """Run `task` here, or start it on the pool (then None: `next_finished` hands it
        back). A task whose inputs cannot be gathered has failed."""
        first, self.first = self.first, None
        before = self._before()
        seeded = first is not None and first.task == task
        if seeded and (first.error is None or not self.retries.get(task)):
            if self.waiting is not None:
                self.waiting.observe(task, first.measures)
            return Finished(first, before)
        pool, waiting = self.pool, self.waiting
        if pool is None and waiting is not None and first is None and waiting.unjudged(task):
            return self._run_watched(task, before, waiting)
        if pool is None and waiting is not None and waiting.waits(task):
            pool = waiting.pool()
        if pool is None:
            return Finished(self._run_here(task, first), before)
        prepared = self._prepare(task, before)
        if isinstance(prepared, Finished):
            return prepared
        inputs, gathered = prepared
        pool.submit(lambda: self._finished.put((
            self._tried(task, lambda: TaskRun.of(task, lambda: inputs)), gathered)))
        self.running += 1
        return None

    def _run_watched(self, task: int, before: Snapshot, waiting: WaitingTasks
                     ) -> Finished | None:
        """Start `task`, the first of a kind not judged yet, on the pool and watch its CPU
        share: if it finishes within `JUDGE_SECONDS` or computes, wait for it here (it runs
        alone, as a task run here does); if it mostly waits, its kind is judged to wait and
        it runs on as a waiting task does (None: `next_finished` hands it back)."""
        prepared = self._prepare(task, before)
        if isinstance(prepared, Finished):
            return prepared
        inputs, gathered = prepared
        meters: queue.SimpleQueue[CpuMeter] = queue.SimpleQueue()

        def watched() -> TaskRun:
            meters.put(CpuMeter())
            return self._tried(task, lambda: TaskRun.of(task, lambda: inputs))

        future = waiting.pool().submit(watched)
        meter = meters.get()
        wait([future], JUDGE_SECONDS)
        share = meter.share()
        if future.done() or share > WAITING_CPU_SHARE:
            run = future.result()
            run = _measured(run, meter.share(run.compute_seconds))  # not over the wake-up
            waiting.observe(task, run.measures)
            return Finished(run, before)
        waiting.observe(task, Measures(share, None))
        future.add_done_callback(
            lambda done: self._finished.put((_measured(done.result(), share), gathered)))
        self.running += 1
        return None

    def _prepare(self, task: int, before: Snapshot
                 ) -> tuple[tuple[Any, dict], Snapshot] | Finished:
        """For a run on the pool: the task's node and inputs, gathered in this thread, and
        the I/O totals once gathered; or, if gathering failed, the task's failed run."""
        start = time.time()
        try:
            prepared = self.inputs.node_and_inputs(task)
        except Exception as exc:  # the task's failure, as in `TaskRun.of`
            return Finished(TaskRun(task, start, 0.0, error=exc), before)
        return prepared, self.recorder.since(before)

    def _before(self) -> Snapshot:
        """The I/O totals the next task counts from: less the I/O carried in for it."""
        before = self.recorder.snapshot()
        if self.carried is not None:
            carried, self.carried = self.carried, None
            before.seconds -= carried.seconds
            before.round_trips -= carried.round_trips
        return before

    def _run_here(self, task: int, first: TaskRun | None) -> TaskRun:
        """Run `task` in this thread (again while it raises, as its annotation allows); the
        first of its kind is measured, to tell whether such tasks wait."""
        waiting = self.waiting
        measure = waiting is not None and not waiting.known(task)
        run = self._tried(task, lambda: TaskRun.of(
            task, lambda: self.inputs.node_and_inputs(task), self._probe_if_sampled(measure)),
            first)
        if waiting is not None:
            waiting.observe(task, run.measures)
        return run

    def _tried(self, task: int, attempt: Callable[[], TaskRun],
               first: TaskRun | None = None) -> TaskRun:
        """The task's run, run again while it raises, as often as its annotation allows
        (`first`: a failed run of it from the seed, which counts)."""
        run = first if first is not None and first.task == task else attempt()
        for _ in range(self.retries.get(task, 0)):
            if run.error is None:
                break
            logger.info("task %d raised %r; running it again", task, run.error)
            run = attempt()
        return run

    def next_finished(self, timeout: float | None) -> Finished | None:
        """The next task the pool finishes, waiting up to `timeout` (None if none did)."""
        try:
            run, gathered = self._finished.get(timeout=timeout)
        except queue.Empty:
            return None
        self.running -= 1
        return Finished(run, self.recorder.since(gathered))  # now less its gathering

    def _probe_if_sampled(self, measure: bool) -> GilProbe | None:
        """The first few tasks of each invocation run here measure their CPU share and
        GIL-free share, and so does any task `measure`d (the first of its kind). Tasks run
        on the pool do not: beside each other, waiting for the GIL looks like waiting on
        I/O, so what they measured would keep them on the pool whatever they do (and the
        probe serves one task at a time)."""
        self._measured += 1
        return self.probe if self._measured <= CPU_SAMPLES or measure else None


def _measured(run: TaskRun, cpu_share: float) -> TaskRun:
    """`run`, with the CPU share it was judged by (a failed run measures nothing)."""
    if run.error is not None:
        return run
    return dataclasses.replace(run, measures=Measures(cpu_share, None))
