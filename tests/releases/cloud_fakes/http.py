"""A stateful local fake of one HTTP API on 127.0.0.1 (pytest-httpserver), with injected faults.

Routes are (method, path regex) -> handler(request, match) -> (status, JSON body[, headers]).
Faults are consumed in order before routing: a status with headers (429 + Retry-After, 409, 500)
or a delay. Every request is logged as (method, path) so tests can count writes.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trustme
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Handler = Callable[[Request, re.Match[str]], Reply]


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    status: int | None = None  # None: no error, only the delay
    headers: dict[str, str] | None = None
    body: Any = None
    delay_seconds: float = 0.0
    times: int = 1


class FakeAPI:
    def __init__(self, ca: trustme.CA | None = None) -> None:
        context = None
        if ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self.scheme = "https" if ca else "http"
        self.server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context, threaded=True)
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.RLock()

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.port}"

    def start(self) -> None:
        self.server.expect_request(re.compile(".*")).respond_with_handler(self._dispatch)
        self.server.start()

    def stop(self) -> None:
        self.server.clear()
        self.server.stop()

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern + "$"), handler))

    def fail(self, method: str, pattern: str, status: int | None, **details: Any) -> None:
        self.faults.append(Fault(method, re.compile(pattern + "$"), status, **details))

    def count(self, method: str, pattern: str) -> int:
        expression = re.compile(pattern + "$")
        return sum(1 for m, path in self.requests if m == method and expression.match(path))

    def _dispatch(self, request: Request) -> Response:
        with self.lock:
            self.requests.append((request.method, request.path))
            fault = next(
                (
                    f
                    for f in self.faults
                    if f.method == request.method and f.path.match(request.path) and f.times
                ),
                None,
            )
            if fault is not None:
                fault.times -= 1
        if fault is not None and fault.delay_seconds:
            time.sleep(fault.delay_seconds)
        if fault is not None and fault.status is not None:
            return _response(fault.status, fault.body or {"error": "injected"}, fault.headers or {})
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                with self.lock:
                    reply = handler(request, match)
                return _response(reply[0], reply[1], reply[2] if len(reply) == 3 else None)
        return _response(404, {"error": f"no fake for {request.method} {request.path}"}, {})


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    payload = "" if body is None else json.dumps(body)
    return Response(payload, status=status, headers=headers or {}, content_type="application/json")


def json_body(request: Request) -> Any:
    return json.loads(request.get_data(as_text=True) or "null")
