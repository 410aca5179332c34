"""Which tasks mostly wait (a sleep, I/O, a remote call), told apart while the job runs, so
the executor runs them on threads and keeps starting ready tasks meanwhile.

Per task prefix (`dask.utils.key_split` of its key, as estimates are learned): a prefix the
plan knows to wait (`QueuePlan.waiting`, learned in earlier jobs) waits from the start;
any other is measured (`CpuMeter`) and judged by its latest measured run: a CPU share of at
most `WAITING_CPU_SHARE` waits. The first task of a prefix not judged yet is watched as it
runs (`TaskRunner`): it tells the executor what the others will do within milliseconds,
not only once it ends.
Tasks that wait run on up to `QueuePlan.threads` threads of the process's warm pool. Only
executors of a job with a work queue tell them apart; without one, the plan's learned
batches of waiting leaves decide (see `static_scheduler.batching`).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from dask.utils import key_split

from executor_lambda.measurement import Measures
from storage_manager import JobGraph
from storage_manager.queue_plan import WAITING_CPU_SHARE


class WaitingTasks:
    def __init__(self, graph: JobGraph, pools: Callable[[int], ThreadPoolExecutor]):
        self.graph = graph
        self.threads = graph.queue.threads
        """Most waiting tasks run at once."""
        self._pools = pools
        self._pool: ThreadPoolExecutor | None = None
        self._waits: dict[str, bool] = dict.fromkeys(graph.queue.waiting, True)
        """Per prefix: whether its tasks mostly wait (absent: not measured yet)."""

    def _prefix(self, task: int) -> str:
        return key_split(self.graph.key(task))

    def known(self, task: int) -> bool:
        """Whether the task's prefix has been judged (else: run it here and measure it)."""
        return self._prefix(task) in self._waits

    def unjudged(self, task: int) -> bool:
        """Whether the task's prefix is not judged yet and its tasks could run on threads
        (then its first is watched as it runs, see `TaskRunner`)."""
        return self.threads > 1 and not self.known(task)

    def waits(self, task: int) -> bool:
        """Whether the task is to run on a thread."""
        return self.threads > 1 and self._waits.get(self._prefix(task), False)

    def observe(self, task: int, measures: Measures) -> None:
        """A run of `task` here measured `measures`."""
        if measures.cpu_share is not None:
            self._waits[self._prefix(task)] = measures.cpu_share <= WAITING_CPU_SHARE

    def pool(self) -> ThreadPoolExecutor:
        """The threads waiting tasks run on (the process's, kept warm)."""
        if self._pool is None:
            self._pool = self._pools(self.threads)
        return self._pool
