"""Credentials never shown: URLs lose their userinfo and secret query values, and a Prometheus URL
carrying a password (planted in the topology) reaches no error, console line, journal event,
deployment log or webhook notice."""

from __future__ import annotations

import io
import json
import socket
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from rich.console import Console

from releases import deployment_log
from releases.console import ConsoleProgress
from releases.engine import Engine
from releases.errors import BadInput, Held
from releases.journal import Journal
from releases.notify import Notice
from releases.redact import mask, redact_url
from releases.release_log import ReleaseLog
from releases.targets.bundle import Targets
from releases.targets.metrics.prometheus import PrometheusSource
from releases.topology import PrometheusMetricsSpec, parse_topology
from tests.releases.fakes import FakeClock, FakeWorld
from tests.releases.test_engine import SETTINGS

PASSWORD = "hunter2-planted"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            f"https://admin:{PASSWORD}@prometheus.example.com/api",
            "https://admin:[secret]@prometheus.example.com/api",
        ),
        (
            f"postgresql://app:{PASSWORD}@db:5432/app?sslmode=require",
            "postgresql://app:[secret]@db:5432/app?sslmode=require",
        ),
        (f"https://{PASSWORD}@hooks.example.com/x", "https://[secret]@hooks.example.com/x"),
        (
            f"https://vault.example.com/x?api-version=1&sig={PASSWORD}",
            "https://vault.example.com/x?api-version=1&sig=[secret]",
        ),
        # A user name alone (an Entra identity) is no secret.
        ("postgresql://identity@db:5432/app", "postgresql://identity@db:5432/app"),
        ("https://prometheus.example.com", "https://prometheus.example.com"),
    ],
)
def test_a_url_is_shown_without_its_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_url(f"Prometheus at {url}: refused") == f"Prometheus at {shown}: refused"


def test_mask_hides_secret_values_and_passwords_in_any_form() -> None:
    dsn = f"postgresql://app:{PASSWORD}@db:5432/app"
    output = "\n".join(
        [
            f"connecting to host=db port=5432 user=app password={PASSWORD} dbname=app",
            f"connecting to host=db password='{PASSWORD} with spaces'",
            f"password on its own: {PASSWORD}",
            "the session secret: s3ss10n-v4lue",
            f"url: {dsn}",
        ]
    )
    masked = mask(output, [dsn, "s3ss10n-v4lue"])
    assert PASSWORD not in masked and "with spaces" not in masked and "s3ss10n" not in masked
    assert "user=app" in masked and "dbname=app" in masked  # the rest stays readable


def test_a_topology_refuses_a_metric_url_without_quoting_it() -> None:
    document = {
        "environment": "staging",
        "services": {
            "api": {
                "router": {
                    "kind": "haproxy",
                    "runtime_api": "/srv/haproxy.sock",
                    "backend": "api",
                    "public_url": "x",
                },
                "slots": {
                    "kind": "sandbox",
                    "runtime_api": "/srv/haproxy.sock",
                    "backend": "api",
                    "slots": {"blue": {"address": "127.0.0.1:2"}, "green": {"address": "127.0.0.1:3"}},
                },
                "metrics": {
                    "kind": "prometheus",
                    "url": f"prometheus admin:{PASSWORD}",
                    "responses_labels": {"proxy": "api"},
                    "latency_histogram": "h",
                    "latency_labels": {"service": "api"},
                },
            }
        },
    }
    with pytest.raises(BadInput, match=r"metrics\.prometheus\.url: .*expected an http\(s\) URL") as raised:
        parse_topology(document, "topology file t.json")
    assert PASSWORD not in str(raised.value)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Recorder:
    def __init__(self) -> None:
        self.payloads: list[str] = []

    def send(self, notice: Notice) -> str | None:
        self.payloads.append(json.dumps(notice.payload()))
        return None


def _prometheus(url: str) -> PrometheusSource:
    return PrometheusSource(
        PrometheusMetricsSpec(
            url=url,
            responses_labels={"proxy": "web"},
            latency_histogram="h",
            latency_labels={"service": "web"},
        )
    )


@pytest.mark.parametrize("answer", ["unreachable", "401"])
def test_a_prometheus_password_reaches_nothing_a_person_or_a_file_sees(
    answer: str, tmp_path: Path, httpserver: HTTPServer
) -> None:
    if answer == "unreachable":
        url = f"http://admin:{PASSWORD}@127.0.0.1:{_closed_port()}"
    else:
        httpserver.expect_request("/api/v1/query").respond_with_data("unauthorized", status=401)
        url = httpserver.url_for("/").replace("http://", f"http://admin:{PASSWORD}@").rstrip("/")
    world = FakeWorld()
    targets = Targets(router=world.router, slots=world.slots, metrics=_prometheus(url), secrets=world.secrets)
    journal = Journal(tmp_path / "journal.sqlite", operator="tester")
    recorder, screen = Recorder(), io.StringIO()
    clock = FakeClock()
    progress = ConsoleProgress(Console(file=screen))
    engine = Engine(
        "staging",
        "web",
        targets,
        SETTINGS,
        journal,
        progress,
        clock=clock,
        sleep=clock.sleep,
        notifier=recorder,
        reports_dir=tmp_path / "reports",
    )

    with pytest.raises(Held, match="the metric source did not answer") as raised:
        engine.release(10, "2.0.0")

    record = journal.latest_release("staging", "web")
    assert record is not None
    events = json.dumps([event.detail for event in journal.events(record.id)])
    log = deployment_log.render(ReleaseLog.read(journal, record))
    assert "Prometheus at http://admin:[secret]@" in str(raised.value)
    for seen in (str(raised.value), screen.getvalue(), events, log, *recorder.payloads):
        assert PASSWORD not in seen
    # Held, not finished: its deployment log is the page rendered above (written when it ends).
