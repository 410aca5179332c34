"""What two processes of a deployment must agree on, each defined once: every Redis key name,
the invocation payload, the job's log entries, the record that cancels a job, the per-task
event records, the KV proxy's request format, and the Lua scripts."""

from storage_manager.protocol.cancel import STOPPED, cancel_record, cancelled_job
from storage_manager.protocol.events import (
    NOTHING_PRINTED,
    ExecutorEvents,
    Notice,
    Printed,
    TaskEvent,
    TaskWarning,
)
from storage_manager.protocol.invocation import (
    DEFAULT_PAYLOAD_LIMIT,
    PAYLOAD_KEY,
    Invocation,
    PayloadTooLarge,
)
from storage_manager.protocol.job_log import CANCELLED, ERROR, RESULT, LogEntry
from storage_manager.protocol.keys import FunctionKeys, JobKeys
from storage_manager.protocol.proxy import PROXY_GROUP, ProxyStats, decode_batch, encode_batch
from storage_manager.protocol.running import RunningRecord
from storage_manager.protocol.scripts import script

__all__ = [
    "CANCELLED",
    "DEFAULT_PAYLOAD_LIMIT",
    "ERROR",
    "NOTHING_PRINTED",
    "PAYLOAD_KEY",
    "PROXY_GROUP",
    "RESULT",
    "STOPPED",
    "ExecutorEvents",
    "FunctionKeys",
    "Invocation",
    "JobKeys",
    "LogEntry",
    "Notice",
    "PayloadTooLarge",
    "Printed",
    "ProxyStats",
    "RunningRecord",
    "TaskEvent",
    "TaskWarning",
    "cancel_record",
    "cancelled_job",
    "decode_batch",
    "encode_batch",
    "script",
]
