"""The warnings a job's tasks raised in executors, raised again on the client.

Each comes in its task's event (`TaskWarning`) and is raised again with
`warnings.warn_explicit`, same category, file and line, the message naming the task, so the
caller's filters decide as under Dask's own schedulers (`pytest.warns`, `-W error`). Each
file a warning names keeps a registry here, as a module's `__warningregistry__` would, so the
"default" and "module" actions show a warning once per location; by-value code is located
in the file it came from.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from typing import Any

from storage_manager.code_origins import filename_of
from storage_manager.protocol import TaskEvent

_registries: defaultdict[str, dict] = defaultdict(dict)


def warn_again(event: TaskEvent, key: Any) -> None:
    """Raise the warnings of the task `key`'s event here, through this process's filters."""
    for caught in event.warnings:
        filename = (filename_of(caught.code) if caught.code else None) or caught.filename
        for _ in range(caught.count):
            warnings.warn_explicit(f"{caught.message} (in task {key!r})", caught.category,
                                   filename, caught.lineno, module=caught.module,
                                   registry=_registries[filename])
