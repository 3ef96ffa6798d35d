"""The sandbox's demo app: one slot process serving its version, health and metrics.

    python -m releases.sandbox.demo_app --port 8001 --version 1.0.0 --colour blue \
        --service web [--error-rate 0.2] [--latency-ms 300] [--unhealthy]

`/` answers with the version (body and `X-App-Version` header); `/health` in the runbooks' shape
(`{"status": "healthy", "version": ..., "services": {"database": "connected", "redis": "connected"}}`),
`/health/live`, `/health/ready`; `/metrics` for Prometheus. The database and Redis are the ones
`DATABASE_URL` and `REDIS_URL` name (the sandbox passes its secret store's values in the
environment); a slot that cannot reach either is unhealthy and not ready. Faults are injected
only on `/`, and every injected error carries `X-Fault-Injected: true`, so the rehearsal can tell
an injected failure from a real one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

import psycopg
import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from releases.sandbox.state import FAULT_HEADER, POOL_HEADER, VERSION_HEADER

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="One sandbox slot process.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--colour", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--unhealthy", action="store_true")
    # The digest the slot's "image" is pinned by, when its release named one: reported on /health.
    parser.add_argument("--image-digest", default=None)
    return parser.parse_args(argv)


class Dependencies:
    """The database and Redis as `/health` reports them: one connection each, kept open and
    re-opened after a failure, so health checks (HAProxy's, the release gate's) cost a round trip
    each, not a connection."""

    TIMEOUT_SECONDS = 1

    def __init__(self, database_url: str | None, redis_url: str | None) -> None:
        self.database_url = database_url
        timeout = self.TIMEOUT_SECONDS
        self.redis = (
            redis.Redis.from_url(redis_url, socket_timeout=timeout, socket_connect_timeout=timeout)
            if redis_url
            else None
        )
        self._database: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def database_status(self) -> str:
        if not self.database_url:
            return "not configured"
        with self._lock:
            try:
                if self._database is None or self._database.closed:
                    self._database = psycopg.connect(
                        self.database_url, connect_timeout=self.TIMEOUT_SECONDS, autocommit=True
                    )
                self._database.execute("SELECT 1")
            except psycopg.Error:
                self._database = None
                return "disconnected"
        return "connected"

    def redis_status(self) -> str:
        if self.redis is None:
            return "not configured"
        try:
            return "connected" if self.redis.ping() else "disconnected"
        except redis.RedisError:
            return "disconnected"

    def report(self) -> dict[str, str]:
        return {"database": self.database_status(), "redis": self.redis_status()}


def make_handler(options: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    registry = CollectorRegistry()
    durations = Histogram(
        "sandbox_request_duration_seconds",
        "Time to answer `/`, by the pool the router sent the request through.",
        ["service", "pool"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    dependencies = Dependencies(os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL"))

    def health() -> tuple[str, dict[str, str]]:
        services = dependencies.report()
        if options.unhealthy:
            return "unhealthy", services
        down = any(state == "disconnected" for state in services.values())
        return ("unhealthy" if down else "healthy"), services

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sandbox-demo-app"
        # Headers and body go out as two writes; with Nagle's algorithm on, the body waits for
        # the client's delayed ACK (tens of milliseconds per request).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            """Requests are counted by HAProxy and Prometheus, not logged line by line."""

        def _send(self, status: int, body: dict[str, object], headers: dict[str, str] | None = None) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header(VERSION_HEADER, options.version)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                payload = generate_latest(registry)
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            elif path == "/health":
                status, services = health()
                self._send(
                    200 if status == "healthy" else 503,
                    {
                        "status": status,
                        "version": options.version,
                        "colour": options.colour,
                        "services": services,
                        **({"image_digest": options.image_digest} if options.image_digest else {}),
                    },
                )
            elif path == "/health/live":
                self._send(200, {"status": "alive"})
            elif path == "/health/ready":
                ready = health()[0] == "healthy"
                self._send(200 if ready else 503, {"ready": ready})
            else:
                self._serve_page()

        def _serve_page(self) -> None:
            started = time.perf_counter()
            if options.latency_ms:
                time.sleep(options.latency_ms / 1000)
            if options.error_rate and random.random() < options.error_rate:
                self._send(500, {"error": "injected fault"}, {FAULT_HEADER: "true"})
            else:
                self._send(200, {"version": options.version, "colour": options.colour})
            pool = self.headers.get(POOL_HEADER, "direct")
            durations.labels(options.service, pool).observe(time.perf_counter() - started)

    return Handler


class SlotServer(ThreadingHTTPServer):
    # HAProxy opens a connection per request (`http-server-close`); the stdlib's backlog of 5
    # would refuse some under load, and HAProxy would redispatch them to the other pool, skewing
    # the observed canary share.
    request_queue_size = 1024
    daemon_threads = True


def main(argv: list[str] | None = None) -> None:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    server = SlotServer(("127.0.0.1", options.port), make_handler(options))

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
