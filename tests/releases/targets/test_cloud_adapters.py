"""Pieces of the cloud adapters that need no endpoint: image tags, JSON Pointers, pool health
documents, Azure Monitor's whole minutes, the colour-labelled Prometheus queries over a step's exact
span, and the KQL over App Service's HTTP logs."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from releases.errors import BadInput, Refused
from releases.model import Pool
from releases.targets.metrics.azure_monitor import AzureMonitorSource
from releases.targets.metrics.log_analytics import http_logs_query
from releases.targets.metrics.prometheus import PrometheusSource
from releases.targets.routers.cloudflare import _healthy
from releases.targets.slots.app_service import image_with_tag
from releases.targets.slots.kubernetes import _pointer, image_tag
from releases.topology import AzureMonitorMetricsSpec
from tests.releases.cloud_fakes.prometheus import api_metrics_spec

SITE = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/Microsoft.Web/sites/app"
)


def test_a_version_replaces_only_the_image_tag() -> None:
    assert image_with_tag("DOCKER|registry.example.com:5000/web:1.0.0", "1.1.0") == (
        "DOCKER|registry.example.com:5000/web:1.1.0"
    )
    assert image_with_tag("DOCKER|registry.example.com/web", "2.0") == "DOCKER|registry.example.com/web:2.0"
    with pytest.raises(BadInput, match="not a container image tag"):
        image_with_tag("DOCKER|registry.example.com/web:1.0.0", "1.1.0; rm -rf /")
    with pytest.raises(Refused, match="not a container image"):
        image_with_tag("NODE|20-lts", "1.1.0")


def test_kubernetes_images_and_pointers() -> None:
    assert image_tag("registry.example.com:5000/api:1.2.3") == "1.2.3"
    assert image_tag("registry.example.com:5000/api") is None
    assert image_tag("registry.example.com/api@sha256:abc") is None  # no tag, no version
    assert (
        _pointer("spec", "selector", "app.kubernetes.io/colour") == "/spec/selector/app.kubernetes.io~1colour"
    )


def test_a_pool_is_up_only_when_every_region_says_healthy() -> None:
    assert _healthy({"pop_health": {"Amsterdam, NL": {"healthy": True}, "Frankfurt, DE": {"healthy": True}}})
    assert not _healthy(
        {"pop_health": {"Amsterdam, NL": {"healthy": True}, "Frankfurt, DE": {"healthy": False}}}
    )
    assert not _healthy({"pop_health": {}})  # no region has checked it yet
    assert _healthy({"pop_health": {"healthy": True}})


def _value(minute: int, total: float | None = None) -> SimpleNamespace:
    return SimpleNamespace(timestamp=datetime(2026, 11, 24, 8, minute, tzinfo=UTC), total=total)


def test_azure_monitor_sums_only_the_whole_minutes_of_the_span() -> None:
    def metric(name: str, values: list[SimpleNamespace]) -> SimpleNamespace:
        return SimpleNamespace(name=name, timeseries=[SimpleNamespace(data=values)])

    # A service answering past the span (minute 4) must not have it counted.
    result = SimpleNamespace(
        metrics=[
            metric("Requests", [_value(1, total=100), _value(2, total=300), _value(4, total=999)]),
            metric("Http5xx", [_value(1, total=2), _value(2, total=1), _value(4, total=999)]),
        ]
    )
    asked = {}

    class Client:
        def query_resources(self, **query: object) -> list[SimpleNamespace]:
            asked.update(query)
            return [result]

    target = AzureMonitorMetricsSpec(
        region="westeurope", production_resource_id=SITE, staging_resource_id=f"{SITE}/slots/staging"
    )
    source = AzureMonitorSource(target, Client(), delay_seconds=180)  # type: ignore[arg-type]
    start = datetime(2026, 11, 24, 8, 0, 40, tzinfo=UTC).timestamp()  # weights changed at 08:00:40
    end = datetime(2026, 11, 24, 8, 3, 10, tzinfo=UTC).timestamp()
    evidence = source.evidence(Pool.CANARY, start, end)
    assert asked["resource_ids"] == [f"{SITE}/slots/staging"]
    assert asked["metric_namespace"] == "Microsoft.Web/sites/slots"
    assert asked["timespan"] == (
        datetime(2026, 11, 24, 8, 1, tzinfo=UTC),
        datetime(2026, 11, 24, 8, 3, tzinfo=UTC),
    )
    assert (evidence.requests, evidence.errors, evidence.latency) == (400, 3, ())
    # Complete only up to the last whole minute past the ingestion delay.
    assert source.complete_until(Pool.CANARY, end) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC).timestamp()


def test_prometheus_queries_follow_the_colour_that_serves_the_pool_over_the_exact_span() -> None:
    target = api_metrics_spec("http://127.0.0.1:9090")
    source = PrometheusSource(target, lambda pool: "green" if pool is Pool.CANARY else "blue")
    queries = source.queries(Pool.CANARY, 61.5)
    assert queries["requests"] == 'sum(increase(http_requests_total{app="api",colour="green"}[61500ms]))'
    assert queries["errors"] == (
        'sum(increase(http_requests_total{app="api",colour="green",status=~"5.."}[61500ms]))'
    )
    assert queries["latency"] == (
        'sum by (le) (increase(http_request_duration_seconds_bucket{app="api",colour="green"}[61500ms]))'
    )


def test_the_kql_counts_one_slot_in_the_span_with_the_gates_bounds() -> None:
    query = http_logs_query(f"{SITE}/slots/staging", 1_796_000_000.0, 1_796_000_060.5, (0.1, 0.5))
    assert query == (
        "AppServiceHTTPLogs"
        f" | where _ResourceId =~ '{SITE.lower()}/slots/staging'"
        " | where TimeGenerated >= datetime(2026-11-30T00:53:20.000000Z)"
        " and TimeGenerated < datetime(2026-11-30T00:54:20.500000Z)"
        " | summarize requests = count(), errors = countif(ScStatus >= 500),"
        " le_0 = countif(TimeTaken <= 100), le_1 = countif(TimeTaken <= 500)"
    )
