"""What a worker tells the dispatcher when an invocation ends, in the shapes Lambda's Runtime
API is told them: the handler's result as JSON, or its error as Lambda reports a function
error (`{"errorMessage", "errorType", "stackTrace"}`). A reply is one tag byte and the body.
"""

from __future__ import annotations

import json
import traceback

RESULT = b"R"
ERROR = b"E"

TIMED_OUT = "Sandbox.Timedout"
"""Lambda's error type for an invocation that ran past the function's timeout."""
EXITED = "Runtime.ExitError"
"""Lambda's error type for an execution environment that died during an invocation."""


def result(body: bytes) -> bytes:
    return RESULT + body


def error(error_type: str, message: str, stack: list[str] | None = None) -> bytes:
    return ERROR + json.dumps({"errorMessage": message, "errorType": error_type,
                               "stackTrace": stack or []}).encode()


def error_of(exc: BaseException) -> bytes:
    """`exc` (being handled) as Lambda reports an exception its handler raised."""
    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    return error(type(exc).__name__, str(exc), stack)


def failed(reply: bytes) -> bool:
    return reply[:1] == ERROR


def body(reply: bytes) -> bytes:
    return reply[1:]


def describe(reply: bytes) -> str:
    """A failed reply as a traceback-like text, for a log or an error message."""
    try:
        data = json.loads(reply[1:])
        stack = "".join(data.get("stackTrace") or ())
        return f"{stack}{data.get('errorType', 'Error')}: {data.get('errorMessage', '')}"
    except (ValueError, AttributeError, TypeError):
        return reply[1:].decode(errors="replace")
