"""Checkpoints, and a retry resuming from them.

A delivery that dies loses the values it held; its retry runs its tasks again (see
`storage_manager.work_queue` and `executor_lambda.delivery`). So that it need not run again
what took long, an executor also writes the output of every task that ran for at least
`CHECKPOINT_SECONDS` and is at most `CHECKPOINT_BYTES` in memory (`checkpoints`), where a
reader would find it, even when no one outside reads it: with the task's publish when that
goes to Redis anyway, else (in a batch's region) off the loop's thread (`CheckpointWriter`),
so a run of tasks that meet inside the executor never waits for their checkpoints. A
checkpoint is a key the job's cleanup deletes like any output; one not written yet when its
executor dies is missed, and its task runs again, as without checkpoints.

A retry (attempt > 0) looks up the stored outputs of every task it may run: its start tasks,
each batch it pulls, and all they lead to, one MGET per shard each time (`StoredOutputs`).
A task whose output it found is not run: the retry publishes the value read as if the task
had just run, so its dependents meet it as they would have. A task's output is the same
whichever run wrote it (or, for a task that is not deterministic, one of its values), so
reading it back is as good as running it again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable

import redis

from executor_lambda.loop.task_run import TaskRun
from storage_manager import JobGone, JobStore, loads
from storage_manager.signing import Buffer

logger = logging.getLogger(__name__)

CHECKPOINT_SECONDS = 0.005
"""A task that ran at least this long has its output written, if it is small."""

CHECKPOINT_BYTES = 64 * 1024
"""The largest output (`dask.sizeof`) written as a checkpoint."""


def checkpoints(compute_seconds: float, output_bytes: int, retries: int) -> bool:
    """Whether a task's output is written although no one outside may read it: it took long
    to compute, is cheap to write, and a retry could read it."""
    return (retries > 0 and compute_seconds >= CHECKPOINT_SECONDS
            and output_bytes <= CHECKPOINT_BYTES)


class StoredOutputs:
    """The outputs a retry found stored for the tasks it may run (none for a first
    delivery, which never looks)."""

    def __init__(self, store: JobStore, retry: bool):
        self.store = store
        self.retry = retry
        self._found: dict[int, Buffer] = {}
        self._looked: set[int] = set()

    def look_up(self, tasks: Iterable[int]) -> None:
        """Read the stored outputs of `tasks` and of every task they lead to, those not
        looked up before."""
        if not self.retry:
            return
        graph, reach, stack = self.store.graph, set(), list(tasks)
        while stack:
            task = stack.pop()
            if task in self._looked or task in reach or task in graph.data:
                continue
            reach.add(task)
            stack.extend(graph.dependents[task])
        self._looked |= reach
        if reach:
            self._found.update(self.store.fetch_outputs(sorted(reach), missing_ok=True))

    def take(self, task: int) -> TaskRun | None:
        """The task's run, from its stored output; None if none was found."""
        blob = self._found.pop(task, None)
        if blob is None:
            return None
        value = loads(blob, self.store.signer, f"the output of task {self.store.graph.key(task)!r}")
        return TaskRun(task, time.time(), 0.0, value)


class CheckpointWriter:
    """Writes checkpoints on a thread of its own, all those waiting in one step per shard,
    while the loop goes on. Writes through a store of its own (the same shards and graph), so
    the loop's per-task I/O counts stay its tasks' own. `close` lets the thread end once it
    wrote what was handed over before; a write the job refuses (it was cleaned up) or a shard
    cannot take is dropped: a checkpoint only saves a retry work."""

    def __init__(self, store: JobStore):
        self._store = JobStore(store.shards, store.graph, owner=store.owner)
        self._waiting: queue.SimpleQueue[tuple[int, bytes] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def write(self, task: int, blob: bytes) -> None:
        """Have `blob` written as the output of `task`, soon."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="checkpoints", daemon=True)
            self._thread.start()
        self._waiting.put((task, blob))

    def close(self) -> None:
        if self._thread is not None:
            self._waiting.put(None)

    def _run(self) -> None:
        closed = False
        while not closed:
            batch = [self._waiting.get()]
            while not self._waiting.empty():
                batch.append(self._waiting.get())
            closed = None in batch
            writes = [item for item in batch if item is not None]
            if writes and not self._write(writes):
                return

    def _write(self, writes: list[tuple[int, bytes]]) -> bool:
        """Write them in one step per shard; False once the job is gone."""
        publish = self._store.publish()
        for task, blob in writes:
            publish.write_output(task, blob)
        try:
            publish.execute()
        except JobGone:
            return False
        except redis.RedisError as exc:
            logger.debug("checkpoints of tasks %s not written: %s", [t for t, _ in writes], exc)
        return True
