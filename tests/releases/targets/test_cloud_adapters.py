"""Pieces of the cloud adapters that need no endpoint: image tags, JSON Pointers, pool health
documents, Azure Monitor's aggregation, the colour-labelled Prometheus queries and the gate on a
mean latency."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from releases.errors import BadInput, Refused
from releases.gates import Verdict, analyse
from releases.model import Pool, PoolSample
from releases.settings import AnalysisGate
from releases.targets.app_service import image_with_tag
from releases.targets.azure_monitor import AzureMonitorSource
from releases.targets.cloudflare_lb import _healthy
from releases.targets.kubernetes_colours import _pointer, image_tag
from releases.targets.prometheus import PrometheusSource
from releases.topology import AzureMonitorMetrics, PrometheusMetrics

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


def _value(minute: int, total: float | None = None, average: float | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        timestamp=datetime(2026, 11, 24, 8, minute, tzinfo=UTC), total=total, average=average
    )


def test_azure_monitor_sums_counts_and_weights_the_mean_by_requests() -> None:
    def metric(name: str, values: list[SimpleNamespace]) -> SimpleNamespace:
        return SimpleNamespace(name=name, timeseries=[SimpleNamespace(data=values)])

    result = SimpleNamespace(metrics=[
        metric("Requests", [_value(1, total=100), _value(2, total=300)]),
        metric("Http5xx", [_value(1, total=2), _value(2, total=1)]),
        metric("HttpResponseTime", [_value(1, average=0.4), _value(2, average=0.2)]),
    ])  # fmt: skip
    asked = {}

    class Client:
        def query_resources(self, **query: object) -> list[SimpleNamespace]:
            asked.update(query)
            return [result]

    target = AzureMonitorMetrics(region="westeurope", production_resource_id=SITE,
                                 staging_resource_id=f"{SITE}/slots/staging")  # fmt: skip
    sample = AzureMonitorSource(target, Client()).sample(Pool.CANARY, 30)  # type: ignore[arg-type]
    assert asked["resource_ids"] == [f"{SITE}/slots/staging"]
    assert asked["metric_namespace"] == "Microsoft.Web/sites/slots"
    assert (sample.requests, sample.errors, sample.p95_seconds) == (400, 3, None)
    assert sample.mean_seconds == pytest.approx((100 * 0.4 + 300 * 0.2) / 400)


def test_prometheus_queries_follow_the_colour_that_serves_the_pool() -> None:
    target = PrometheusMetrics(
        url="http://127.0.0.1:9090", responses_metric="http_requests_total", responses_labels={"app": "api"},
        responses_pool_label="colour", error_label="status", error_pattern="5..",
        latency_histogram="http_request_duration_seconds", latency_labels={"app": "api"},
        latency_pool_label="colour",
    )  # fmt: skip
    source = PrometheusSource(target, lambda pool: "green" if pool is Pool.CANARY else "blue")
    queries = source.queries(Pool.CANARY, 60)
    assert queries["requests"] == 'sum(increase(http_requests_total{app="api",colour="green"}[60s]))'
    assert (
        queries["errors"] == 'sum(increase(http_requests_total{app="api",colour="green",status=~"5.."}[60s]))'
    )
    assert 'colour="green"' in queries["p95"]


def test_a_mean_latency_over_the_limit_fails_the_gate_and_one_under_it_passes() -> None:
    gate = AnalysisGate(min_requests=10)
    slow = analyse(PoolSample(requests=500, errors=0, p95_seconds=None, mean_seconds=0.8), None, gate)
    assert slow.verdict is Verdict.FAIL and "mean latency 800 ms" in slow.reasons[0]
    fast = analyse(PoolSample(requests=500, errors=0, p95_seconds=None, mean_seconds=0.1), None, gate)
    assert fast.verdict is Verdict.PASS
