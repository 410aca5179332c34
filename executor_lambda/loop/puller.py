"""Pulling work from the job's queue whenever this executor has nothing ready (see
`storage_manager.work_queue`), in batches sized to the tasks' cost as it turns out.

A batch starts at one task. While the last batch kept the executor busy for at most
`GROW_FACTOR` times what its pull cost (a round trip to the job's shard), its tasks are
cheap against a pull, and the next batch is twice as large (up to `MOST_TASKS`); once a
batch takes longer than `SLOW_BATCH_SECONDS`, the next is half as large, so slow tasks are
not held here while other executors could start them. While the leaves the executor took
last wait (they run on its threads), a pull takes at least as many as it has threads free
(`at_least`).
Nothing is learned before the job runs: each invocation sizes its own batches. The queue's
script caps a batch at the executor's fair share of what is left (see `lua/pull.lua`).

An empty pull is final (only a retry's take-over grows the queue, and the retry pulls it
empty): the puller stops, and the executor ends once nothing is ready, running or held here.
The first pull of a retried delivery (attempt > 0) takes over the tasks dead deliveries
pulled (see `storage_manager.work_queue`). An invocation whose platform ends it at a
deadline (Lambda's timeout, the local runtime's) stops pulling `HAND_OVER_SECONDS` before
it, and hands the queue over: it takes one task and invokes a new executor for it (with an
id derived from its own and the task's, `child_id`, so a retry that hands the same task over
makes a duplicate, not a second executor), which pulls on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from executor_lambda.platforms import Invoker
from storage_manager.job_io import JobIO
from storage_manager.protocol import Invocation
from storage_manager.protocol.delivery import child_id
from storage_manager.work_queue import pull

GROW_FACTOR = 128
"""A batch that kept the executor busy less than this many pulls' time was cheap."""

SLOW_BATCH_SECONDS = 0.25
"""A batch that kept the executor busy longer than this was slow."""

MOST_TASKS = 4096
"""The largest batch one pull asks for."""

HAND_OVER_SECONDS = 30.0
"""An invocation with less time left than this pulls no more: it hands the queue over."""


class Puller:
    def __init__(self, io: JobIO, invocation: Invocation,
                 clock: Callable[[], float] = time.perf_counter):
        self.io = io
        self.invocation = invocation
        self._take_over = invocation.attempt > 0
        """The next pull first queues dead deliveries' pulled tasks again (a retry's first)."""
        self.clock = clock
        self.size = 1
        """How many tasks the next pull asks for."""
        self.active = io.graph.queue.workers > 0
        """The queue may have work: the job has one and no pull found it empty."""
        self.tail = invocation.task in io.graph.queue.tail
        """Pull from the queue's tail (a start leaf at the tail's end of the leaves)."""
        self.pulls = 0
        self.largest = 0
        """The largest batch pulled so far (for the executor's log)."""
        self._pulled_at: float | None = None
        self._pull_seconds = 0.0

    def pull(self, at_least: int = 1) -> list[int]:
        """The next batch, of at least `at_least` tasks if the queue's fair share has them
        (the executor's free threads while tasks wait on them: they start at once); empty,
        and the puller inactive, once the queue is drained."""
        start = self.clock()
        if self._pulled_at is not None:
            self._resize(start - self._pulled_at)
        tasks = pull(self.io, max(self.size, at_least), self._take_over,
                     aligned=at_least <= 1, tail=self.tail)
        self._take_over = False
        self._pulled_at = self.clock()
        self._pull_seconds = self._pulled_at - start
        self.pulls += 1
        self.largest = max(self.largest, len(tasks))
        if not tasks:
            self.active = False
        return tasks

    def hand_over(self, invoker: Invoker) -> None:
        """Stop pulling; start a new executor with the queue's next task, if any, so the
        queue is pulled on. The new executor pulls (every executor of the job does)."""
        self.active = False
        tasks = pull(self.io, 1, self._take_over, tail=self.tail)
        if tasks:
            parent, graph = self.invocation.id, self.io.graph
            invoker.invoke([Invocation(job=graph.job_id, task=tasks[0],
                                       id=child_id(parent, tasks[0]), handed_by=self.io.owner,
                                       retries=graph.recovery.retries)])

    def _resize(self, busy: float) -> None:
        """The last batch kept the executor busy `busy` seconds: size the next."""
        if busy <= GROW_FACTOR * self._pull_seconds:
            self.size = min(MOST_TASKS, self.size * 2)
        elif busy > SLOW_BATCH_SECONDS:
            self.size = max(1, self.size // 2)
