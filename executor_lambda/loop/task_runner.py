"""Running an invocation's tasks: here, one at a time, or up to `threads` at once on a pool.

A batch of tasks that mostly wait runs on a warm thread pool: only their functions run
there; gathering inputs, publishing and all the loop's state stay in the loop's thread. The
first task may have run already, from the invocation's seed (see `GraphSeed`): it is then
only handed back to be published. A task with Dask's `retries=n` annotation that raises is
run again, up to n times, before its error is published (`Recovery.task_retries`).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from executor_lambda.loop.inputs import Inputs
from executor_lambda.loop.task_run import TaskRun
from executor_lambda.measurement import GilProbe, Snapshot, TaskRecorder

logger = logging.getLogger(__name__)

CPU_SAMPLES = 16
"""Tasks per invocation that measure their CPU share: enough to learn from, and cheap even
when an invocation runs thousands of tiny tasks."""


@dataclass(slots=True)
class Finished:
    """A task's run, to be published."""

    run: TaskRun
    before: Snapshot
    """The I/O totals the task's own I/O is counted from (its gathering included)."""


class TaskRunner:
    def __init__(self, inputs: Inputs, recorder: TaskRecorder, threads: int = 1,
                 pool: ThreadPoolExecutor | None = None, probe: GilProbe | None = None,
                 first: TaskRun | None = None, retries: Mapping[int, int] | None = None,
                 carried: Snapshot | None = None):
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
        self.running = 0
        """Tasks on the pool not yet handed back."""
        self._measured = 0
        self._finished: queue.SimpleQueue[tuple[TaskRun, Snapshot]] = queue.SimpleQueue()
        """Runs the pool has finished, each with the I/O its inputs' gathering did."""

    def has_room(self) -> bool:
        return self.running < self.threads

    def run(self, task: int) -> Finished | None:
        """Run `task` here, or start it on the pool (then None: `next_finished` hands it
        back). A task whose inputs cannot be gathered has failed."""
        first, self.first = self.first, None
        before = self.recorder.snapshot()
        if self.carried is not None:
            carried, self.carried = self.carried, None
            before.seconds -= carried.seconds
            before.round_trips -= carried.round_trips
        seeded = first is not None and first.task == task
        if seeded and (first.error is None or not self.retries.get(task)):
            return Finished(first, before)
        if self.pool is None:
            run = self._tried(task, lambda: TaskRun.of(
                task, lambda: self.inputs.node_and_inputs(task), self._probe_if_sampled()),
                first)
            return Finished(run, before)
        start = time.time()
        try:
            prepared = self.inputs.node_and_inputs(task)
        except Exception as exc:  # the task's failure, as in `TaskRun.of`
            return Finished(TaskRun(task, start, 0.0, error=exc), before)
        gathered = self.recorder.since(before)
        self.pool.submit(lambda: self._finished.put((
            self._tried(task, lambda: TaskRun.of(task, lambda: prepared)), gathered)))
        self.running += 1
        return None

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

    def _probe_if_sampled(self) -> GilProbe | None:
        """The first few tasks of each invocation run here measure their CPU share and
        GIL-free share. Tasks run on the pool do not: beside each other, waiting for the
        GIL looks like waiting on I/O, so what they measured would keep them on the pool
        whatever they do (and the probe serves one task at a time)."""
        self._measured += 1
        return self.probe if self._measured <= CPU_SAMPLES else None
