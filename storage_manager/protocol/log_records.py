"""How the processes of a local deployment (the local runtime, its workers, the KV proxy) hand
their log records to the process that started them: one line per record on stderr, which
that process reads and logs again under `wukong.<service>` (see `wukong.service_output`), so
its own logging configuration (handlers, levels, a file) covers the whole cluster.

    configure("runtime", "INFO")           # in the service, first thing
    record = decode(line)                  # in the process that reads its stderr
"""

from __future__ import annotations

import json
import logging
import os
import sys

MARK = "\x1ewukong-log "
"""Starts every record's line, so records are told from other output on the same stream."""

ENV_LOG_LEVEL = "WUKONG_LOG_LEVEL"
"""The level the runtime's workers log at, from the runtime's own."""

_FIELDS = ("name", "levelno", "levelname", "pathname", "filename", "module", "lineno",
           "funcName", "created", "msecs", "process", "processName", "threadName")


class _LineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {name: getattr(record, name, None) for name in _FIELDS}
        fields["msg"] = record.getMessage()
        fields["service"] = self.service
        if record.exc_info:
            fields["exc_text"] = self.formatException(record.exc_info)
        elif record.exc_text:
            fields["exc_text"] = record.exc_text
        return MARK + json.dumps(fields, default=str)

    def __init__(self, service: str):
        super().__init__()
        self.service = service


def configure(service: str, level: str | int | None = None) -> None:
    """Log this process's records (at `level`, default `ENV_LOG_LEVEL`'s or WARNING) as
    lines on stderr, tagged with `service`."""
    level = level or os.environ.get(ENV_LOG_LEVEL) or "WARNING"
    handler = logging.StreamHandler(sys.__stderr__)
    handler.setFormatter(_LineFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


def decode(line: str) -> tuple[str, logging.LogRecord] | None:
    """(the service, the record) a line carries; None for a line that is not a record."""
    if not line.startswith(MARK):
        return None
    try:
        fields = json.loads(line[len(MARK):])
    except ValueError:
        return None
    service = str(fields.pop("service", "service"))
    fields["args"] = None
    return service, logging.makeLogRecord(fields)
