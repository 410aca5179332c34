"""What a job's tasks printed in executors, shown on the client.

Each task's output comes in its event (`Printed`), as it was written there (see
`executor_lambda.measurement.task_output`). Shown (`wukong.output.show`), each line goes to
this process's `sys.stdout` or `sys.stderr`, as the task wrote it, prefixed with the task's
key, so the output of tasks that ran at once stays readable. Kept
(`wukong.output.keep`), it stays in the job's report (`wukong.last_job().tasks`); else it is
dropped once shown, so a job's report does not hold every line its tasks printed.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, TextIO

from storage_manager.protocol import NOTHING_PRINTED, ExecutorEvents, Printed


def show(printed: Printed, key: Any, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> None:
    """Write what the task `key` printed, each line prefixed with its key."""
    prefix = f"[{key}] " if isinstance(key, str) else f"[{key!r}] "
    for text, stream in ((printed.stdout, stdout or sys.stdout),
                         (printed.stderr, stderr or sys.stderr)):
        if text:
            lines = text.splitlines()
            stream.write("".join(f"{prefix}{line}\n" for line in lines))
            stream.flush()


def without_output(record: ExecutorEvents) -> ExecutorEvents:
    """`record` with its tasks' output dropped (the record itself if none printed)."""
    if all(event.printed is NOTHING_PRINTED for event in record.tasks):
        return record
    tasks = tuple(event._replace(printed=NOTHING_PRINTED) if event.printed else event
                  for event in record.tasks)
    return replace(record, tasks=tasks)
