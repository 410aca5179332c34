"""Results that only the client reads, written and announced a batch at a time.

A task whose output is one of the job's results, and which no task reads, needs no Redis
call of its own: no executor waits for it, only the client. Its write and announcement join
the executor's pending batch, which goes out as one step once it holds `MOST_RESULTS`
results or `MOST_BYTES` bytes, when the executor has nothing else to start (it is about to
pull, to wait for its threads or its held outputs, or to end: see `Publisher`), or at the
first task start after the oldest has waited `MOST_WAIT_SECONDS`. So a result is announced
at most that long after its task ended, plus the run of one task that started before; a
large one goes out at once, so the client's fetch overlaps the work that follows. An
executor that dies loses its pending results with it: their tasks run again in its retry,
as its tasks in flight do.
"""

from __future__ import annotations

import time

from storage_manager import JobStore, Publish
from storage_manager.protocol import RESULT

MOST_RESULTS = 256
"""Results written and announced in one step at most."""

MOST_BYTES = 1 << 20
"""A batch whose results' bytes reach this goes out at once."""

MOST_WAIT_SECONDS = 0.01
"""A batch whose oldest result waited this long goes out before the next task starts."""


class ResultBatch:
    def __init__(self, store: JobStore):
        self.store = store
        self._publish: Publish | None = None
        self._tasks: list[int] = []
        self._bytes = 0
        self._since = 0.0

    def __bool__(self) -> bool:
        return bool(self._tasks)

    def add(self, task: int, blob: bytes) -> bool:
        """Add a result (its serialized value); whether the batch is full and goes out now."""
        if self._publish is None:
            self._publish = self.store.publish()
            self._since = time.monotonic()
        self._publish.write_output(task, blob)
        self._publish.announce(RESULT, task)
        self._tasks.append(task)
        self._bytes += len(blob)
        return len(self._tasks) >= MOST_RESULTS or self._bytes >= MOST_BYTES

    def overdue(self) -> bool:
        """Whether its oldest result has waited `MOST_WAIT_SECONDS` or more."""
        return bool(self._tasks) and time.monotonic() - self._since >= MOST_WAIT_SECONDS

    def take(self) -> tuple[Publish, int]:
        """The pending step, with the last task added (whose event counts the step's I/O);
        the batch is empty again."""
        assert self._publish is not None, "take() needs a result in the batch"
        publish, task = self._publish, self._tasks[-1]
        self._publish, self._tasks, self._bytes = None, [], 0
        return publish, task
