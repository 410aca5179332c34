"""AWS Lambda's limits, held on every platform, so a job that runs on the local runtime
also runs on Lambda: a setting past one fails when a cluster starts, naming the setting.

The payload limits themselves are enforced where payloads are made (`Invocation.encode`,
`LambdaInvoker`, the local runtime's Invoke API), the timeout where invocations run.
"""

from __future__ import annotations

from typing import Any

from executor_lambda.platforms.aws.limits import ASYNC_PAYLOAD_BYTES, MEMORY_MB, TIMEOUT_SECONDS
from wukong.config import setting


def invocation_timeout(value: Any = None) -> float:
    """`wukong.runtime.invocation-timeout`: seconds, above 0 and at most Lambda's 900."""
    timeout = setting("runtime.invocation-timeout", value)
    seconds = _number(timeout)
    if seconds is None or not 0 < seconds <= TIMEOUT_SECONDS[1]:
        raise ValueError(f"wukong.runtime.invocation-timeout must be a number of seconds above "
                         f"0 and at most {TIMEOUT_SECONDS[1]} (AWS Lambda's 15 minutes), "
                         f"got {timeout!r}")
    return seconds


def payload_limit() -> int:
    """`wukong.runtime.payload-limit`: bytes, at most Lambda's asynchronous limit."""
    value = setting("runtime.payload-limit")
    limit = _number(value)
    if limit is None or limit != int(limit) or not 0 < limit <= ASYNC_PAYLOAD_BYTES:
        raise ValueError(f"wukong.runtime.payload-limit must be a whole number of bytes from 1 "
                         f"to {ASYNC_PAYLOAD_BYTES:,} (AWS Lambda's asynchronous limit), "
                         f"got {value!r}")
    return int(limit)


def memory_mb() -> int:
    """`wukong.aws.memory`: the function's MB, 128 to 10,240."""
    value = setting("aws.memory")
    if isinstance(value, bool) or not isinstance(value, int) or not (
            MEMORY_MB[0] <= value <= MEMORY_MB[1]):
        raise ValueError(f"wukong.aws.memory must be a whole number of MB from {MEMORY_MB[0]} "
                         f"to {MEMORY_MB[1]:,} (AWS Lambda's limits), got {value!r}")
    return value


def concurrency(name: str, value: Any = None) -> int:
    """`wukong.<name>`: how many executors may run at once, at least one."""
    raw = setting(name, value)
    count = _number(raw)
    if count is None or count != int(count) or count < 1:
        raise ValueError(f"wukong.{name} must be a whole number of executors, at least 1, "
                         f"got {raw!r}")
    return int(count)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
