"""The Kubernetes metrics path on real parts: the Prometheus the sandbox installs (Debian's
`prometheus`), scraping every second a stand-in for the API's own exporter, so range functions
(`increase`, `timestamp`, staleness) behave as they do in production.

The stand-in serves what the API exports (`http_requests_total` by status and
`http_request_duration_seconds`, labelled `app="api"` and by colour) for simulated traffic: each
colour answers `requests_per_second` requests with the behaviour of the version its Deployment
runs (`bad_versions` answer 10% 5xx and take 900 ms; others 80 ms). Both processes listen on
127.0.0.1 only and are stopped by the pid they were started with.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from releases.sandbox import processes
from releases.sandbox.demo_app import LATENCY_BUCKETS
from releases.sandbox.state import ProcessRecord
from releases.topology import PrometheusMetricsSpec
from tests.releases.cloud_fakes.kubernetes import COLOUR_LABEL

TICK_SECONDS = 0.1
PROMETHEUS_INSTALLED = shutil.which("prometheus") is not None


class ApiExporter:
    """The API's metrics for simulated traffic, colour by colour."""

    def __init__(
        self, version_of: Callable[[str], str], colours: tuple[str, ...] = ("blue", "green")
    ) -> None:
        self.version_of = version_of  # colour -> the version its Deployment runs
        self.colours = colours
        self.bad_versions: set[str] = set()
        self.requests_per_second = 400.0
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests", "Requests answered", ["app", "colour", "status"], registry=self.registry
        )
        self.durations = Histogram(
            "http_request_duration_seconds",
            "Time to answer",
            ["app", "colour"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        for colour in colours:  # every series exists from the start, as a running app's would
            for status in ("200", "500"):
                self.requests.labels("api", colour, status)
            self.durations.labels("api", colour)
        self.port = processes.free_ports(1)[0]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve_traffic, name="api-exporter", daemon=True)
        self._server: Any = None

    def start(self) -> None:
        self._server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._server is not None:
            self._server.shutdown()

    def _serve_traffic(self) -> None:
        owed = dict.fromkeys(self.colours, 0.0)
        while not self._stop.wait(TICK_SECONDS):
            for colour in self.colours:
                owed[colour] += self.requests_per_second * TICK_SECONDS
                count, owed[colour] = int(owed[colour]), owed[colour] - int(owed[colour])
                bad = self.version_of(colour) in self.bad_versions
                errors = count // 10 if bad else 0
                self.requests.labels("api", colour, "500").inc(errors)
                self.requests.labels("api", colour, "200").inc(count - errors)
                histogram = self.durations.labels("api", colour)
                for _ in range(count):
                    histogram.observe(0.9 if bad else 0.08)


class RealPrometheus:
    """A Prometheus process scraping `targets` every second, its data in `directory`."""

    def __init__(self, directory: Path, targets: list[str]) -> None:
        self.directory = directory
        self.targets = targets
        self.port = processes.free_ports(1)[0]
        self.record: ProcessRecord | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                    "scrape_configs": [{"job_name": "api", "static_configs": [{"targets": self.targets}]}],
                }
            )
        )
        argv = [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.record = processes.start(argv, self.directory / "prometheus.log")
        # Ready is not enough: Prometheus applies its targets after a discovery reload (5 s), and
        # a test's first look must find them scraped.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                targets = httpx.get(f"{self.url}/api/v1/targets", timeout=1).json()["data"]["activeTargets"]
                if targets and all(target["health"] == "up" for target in targets):
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"Prometheus scraped nothing within 30 s; see {self.directory / 'prometheus.log'}")

    def stop(self) -> None:
        if self.record is not None:
            processes.stop(self.record)


def api_metrics_spec(url: str) -> PrometheusMetricsSpec:
    """The api service's metrics as `ApiExporter` exports them (by colour, as on Kubernetes)."""
    return PrometheusMetricsSpec(
        url=url,
        responses_metric="http_requests_total",
        responses_labels={"app": "api"},
        responses_pool_label=COLOUR_LABEL,
        error_label="status",
        error_pattern="5..",
        latency_histogram="http_request_duration_seconds",
        latency_labels={"app": "api"},
        latency_pool_label=COLOUR_LABEL,
    )


class ApiMetrics:
    """The stand-in exporter and the real Prometheus scraping it, started and stopped together."""

    def __init__(self, directory: Path, version_of: Callable[[str], str]) -> None:
        self.exporter = ApiExporter(version_of)
        self.prometheus = RealPrometheus(directory, [f"127.0.0.1:{self.exporter.port}"])

    @property
    def url(self) -> str:
        return self.prometheus.url

    @property
    def bad_versions(self) -> set[str]:
        return self.exporter.bad_versions

    def start(self) -> None:
        self.exporter.start()
        self.prometheus.start()

    def stop(self) -> None:
        self.prometheus.stop()
        self.exporter.stop()
