"""Steady, open-loop HTTP load on one URL, recording every response.

Open loop: requests start on a fixed schedule whatever the responses do, so a slow or failing
slot shows up as failures and latency instead of silently lowering the rate. Bounded by a
request count and a duration, and stoppable; it targets whatever URL it is given, which the
rehearsal only ever points at the sandbox on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import httpx

from releases.sandbox.state import FAULT_HEADER, VERSION_HEADER

REQUEST_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Sample:
    sent_at: float  # wall clock (time.time()), comparable with journal timestamps
    seconds: float
    status: int | None  # None: no HTTP response (connection error or timeout)
    version: str | None
    fault_injected: bool
    error: str | None = None

    @property
    def failed(self) -> bool:
        """Non-2xx or no response, unless the app says it injected the fault on purpose."""
        if self.fault_injected:
            return False
        return self.status is None or not 200 <= self.status < 300


class LoadGenerator:
    def __init__(
        self,
        url: str,
        rate: float,
        max_requests: int,
        max_seconds: float,
        headers: dict[str, str] | None = None,
    ) -> None:
        """`headers` go with every request: the sandbox's origin credential, which its HAProxy
        requires as the cloud origins require Cloudflare's."""
        if rate <= 0 or max_requests <= 0 or max_seconds <= 0:
            raise ValueError("rate, max_requests and max_seconds must be positive")
        self.url = url
        self.headers = dict(headers or {})
        self.rate = rate
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="load", daemon=True)
        self.started_at = 0.0
        self.stopped_at = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    async def _one(self, client: httpx.AsyncClient) -> None:
        sent_at = time.time()
        started = time.perf_counter()
        try:
            response = await client.get(self.url, headers=self.headers)
        except httpx.HTTPError as error:
            self.samples.append(
                Sample(
                    sent_at,
                    time.perf_counter() - started,
                    None,
                    None,
                    False,
                    f"{type(error).__name__}: {error}",
                )
            )
            return
        self.samples.append(
            Sample(
                sent_at=sent_at,
                seconds=time.perf_counter() - started,
                status=response.status_code,
                version=response.headers.get(VERSION_HEADER),
                fault_injected=response.headers.get(FAULT_HEADER) == "true",
            )
        )

    async def _run(self) -> None:
        interval = 1.0 / self.rate
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as client:
            loop = asyncio.get_running_loop()
            self.started_at = time.time()
            start = loop.time()
            pending: set[asyncio.Task[None]] = set()
            for sent in range(self.max_requests):
                if self._stop.is_set() or loop.time() - start >= self.max_seconds:
                    break
                task = asyncio.create_task(self._one(client))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await asyncio.sleep(max(0.0, start + (sent + 1) * interval - loop.time()))
            if pending:
                await asyncio.wait(pending)
            self.stopped_at = time.time()
