"""A scripted stand-in for AWS Lambda's Invoke API on a local port, for tests of the invoker.

It speaks the real wire format (`POST /2015-03-31/functions/{name}/invocations`, the
invocation type in `X-Amz-Invocation-Type`, errors named in `X-Amz-ErrorType`), so a real
botocore client pointed at it goes through its whole request and error path. Each request
is recorded; the answers follow a script (`then`), and once it runs out every request gets
`202 Accepted`, as an asynchronous invocation does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def throttled() -> Answer:
    return error(429, "TooManyRequestsException", "Rate Exceeded.",
                 Reason="ReservedFunctionConcurrentInvocationLimitExceeded")


def error(status: int, code: str, message: str, **extra: str) -> Answer:
    body = json.dumps({"Type": "User", "message": message, **extra}).encode()
    return Answer(status, {"X-Amzn-ErrorType": code, "Content-Type": "application/json"}, body)


@dataclass
class Request:
    function: str
    invocation_type: str
    body: bytes


class LambdaApi:
    """Serves until `close`; `requests` holds what it received, in order."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: list[Answer] = []
        self.on_request: Callable[[Request], Answer | None] | None = None
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def then(self, *answers: Answer) -> LambdaApi:
        self.script.extend(answers)
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _answer(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
            scripted = self.script.pop(0) if self.script else None
        if scripted is None and self.on_request is not None:
            scripted = self.on_request(request)
        return scripted or Answer()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                parts = self.path.split("/")
                if len(parts) != 5 or parts[1:3] != ["2015-03-31", "functions"] \
                        or parts[4] != "invocations":
                    self._send(error(404, "UnknownOperationException", self.path))
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
                self._send(api._answer(Request(parts[3], kind, body)))

            def _send(self, answer: Answer) -> None:
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.send_header("x-amzn-RequestId", "test")
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args) -> None:
                pass

        return Handler
