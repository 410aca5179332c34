"""The output of a service this process started (the local runtime, the KV proxy, a
`redis-server`), read for as long as it runs, so the service never blocks on a full pipe.

A thread reads the service's stdout and stderr (one pipe) line by line: the line `ready`
tells that it serves; a log record (see `storage_manager.protocol.log_records`) is logged
again here under `wukong.<service>` (`wukong.runtime`, `wukong.executor`, `wukong.proxy`)
through this process's logging; any other line (what a worker wrote to the descriptors
themselves, a crash's traceback) is logged under `wukong.<name>` at `other_level`. The last
lines are kept, to say why a service that would not start did not.
"""

from __future__ import annotations

import collections
import logging
import threading
from typing import IO

from storage_manager.protocol import log_records

READY = "ready"
KEPT_LINES = 20


class ServiceOutput:
    def __init__(self, stream: IO[bytes], name: str, other_level: int = logging.WARNING):
        self.name = name
        self.other_level = other_level
        self.ready = threading.Event()
        """Set once the service said `ready`, or its output ended (see `is_ready`)."""
        self.is_ready = False
        self.last_lines: collections.deque[str] = collections.deque(maxlen=KEPT_LINES)
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True,
                                        name=f"{name}-output")
        self._thread.start()

    def wait_ready(self, timeout: float) -> bool:
        """True once the service said `ready`; False if it ended first or `timeout` passed."""
        self.ready.wait(timeout)
        return self.is_ready

    def _read(self, stream: IO[bytes]) -> None:
        try:
            for raw in stream:
                self._line(raw.decode(errors="replace").rstrip("\n"))
        except (OSError, ValueError):  # the pipe was closed as the service stopped
            pass
        finally:
            self.ready.set()

    def _line(self, line: str) -> None:
        if not self.is_ready and line.strip() == READY:
            self.is_ready = True
            self.ready.set()
            return
        decoded = log_records.decode(line)
        if decoded is None:
            self.last_lines.append(line)
            logger = logging.getLogger(f"wukong.{self.name}")
            if logger.isEnabledFor(self.other_level):
                logger.log(self.other_level, "%s", line)
            return
        service, record = decoded
        self.last_lines.append(record.getMessage())
        logger = logging.getLogger(f"wukong.{service}")
        record.name = logger.name
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)
