"""Lambda's API errors as its services send them: the error code in `X-Amzn-ErrorType`, a
JSON body with `Type` and `message`, so botocore raises the same `ClientError` codes."""

from __future__ import annotations

import json
import uuid

from aiohttp import web


def request_id() -> str:
    return str(uuid.uuid4())


def api_error(status: int, code: str, message: str, **extra: str) -> web.Response:
    body = {"Type": "User", "message": message, **extra}
    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type="application/json",
                        headers={"X-Amzn-ErrorType": code, "x-amzn-RequestId": request_id()})


def runtime_error(status: int, error_type: str, message: str) -> web.Response:
    """An error of the Runtime API, in its own shape."""
    body = {"errorMessage": message, "errorType": error_type}
    return web.Response(status=status, body=json.dumps(body).encode(),
                        content_type="application/json")
