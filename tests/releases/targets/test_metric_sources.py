"""Metric sources against what they read, driven by the gates' own bake: Azure Monitor's fake
(late minutes zero until the ingestion delay has passed) on a simulated clock, Log Analytics'
fake through its SDK, and a real Prometheus scraping a stand-in exporter."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from azure.core.credentials import AccessToken

from releases.gates import Progress, Verdict, bake
from releases.model import Pool
from releases.settings import AnalysisGate
from releases.targets.metrics.azure_monitor import AzureMonitorSource
from releases.targets.metrics.log_analytics import LogAnalyticsSource
from releases.targets.metrics.prometheus import PrometheusSource
from releases.topology import AzureMonitorMetricsSpec
from tests.releases.cloud_fakes import azure
from tests.releases.cloud_fakes.azure import FakeAzure
from tests.releases.cloud_fakes.prometheus import PROMETHEUS_INSTALLED, ApiMetrics, api_metrics_spec
from tests.releases.fakes import FakeClock


class StaticToken:
    """The fake's bearer token, as a credential hands it out."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(azure.ACCESS_TOKEN, int(time.time()) + 3600)


@pytest.fixture
def cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAzure]:
    ca = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca_file))
    fake = FakeAzure(ca)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


def target(workspace: bool = False) -> AzureMonitorMetricsSpec:
    site = FakeAzure.site_id
    return AzureMonitorMetricsSpec(
        region="westeurope",
        production_resource_id=site,
        staging_resource_id=f"{site}/slots/{azure.SLOT}",
        log_analytics_workspace_id=azure.WORKSPACE if workspace else None,
    )


def monitor(cloud: FakeAzure, delay: float) -> AzureMonitorSource:
    from azure.monitor.querymetrics import MetricsClient

    return AzureMonitorSource(target(), MetricsClient(cloud.url, StaticToken(), retry_total=0), delay)  # type: ignore[arg-type]


class Recorded(AzureMonitorSource):
    """The adapter, remembering each span it judged and what it found."""

    def __init__(self, inner: AzureMonitorSource) -> None:
        super().__init__(inner.target, inner.client, inner.delay_seconds)
        self.spans: list[tuple[float, float, float]] = []

    def evidence(self, pool: Pool, start: float, end: float) -> Any:
        found = super().evidence(pool, start, end)
        self.spans.append((start, end, found.requests))
        return found


def simulated(cloud: FakeAzure, at: datetime) -> FakeClock:
    clock = FakeClock()
    clock.now = at.timestamp()
    cloud.clock = clock  # the service's time is the bake's
    return clock


WEIGHTS_CHANGED = datetime(2026, 12, 3, 10, 0, 20, tzinfo=UTC)
GATE = AnalysisGate(bake_seconds=120, interval_seconds=30, max_bake_seconds=600, max_idle_seconds=300)


def test_late_platform_metrics_are_judged_on_complete_minutes_after_the_weight_change(
    cloud: FakeAzure,
) -> None:
    """The adapter asked for one minute ending now: the newest minute reads 0 until the metrics
    are ingested, so a web canary would have shown 0 requests. Now each span starts at the first
    whole minute after the weights changed and ends where the data is complete."""
    cloud.ingestion_delay_seconds = 150  # the newest minutes read 0 for two and a half minutes
    clock = simulated(cloud, WEIGHTS_CHANGED)
    source = Recorded(monitor(cloud, delay=180))
    result = bake(
        "canary 10%", GATE.bake_seconds, Pool.CANARY, source, GATE, Progress(), False, clock, clock.sleep
    )
    assert source.spans and cloud.metric_queries
    for start, end, requests in source.spans:
        assert start == datetime(2026, 12, 3, 10, 1, tzinfo=UTC).timestamp()
        assert end % 60 == 0 and end <= clock.now - 180 + GATE.interval_seconds
        # Every minute judged is complete: all of its requests, none read as a late zero.
        assert requests == cloud.requests_per_minute * (end - start) / 60
    for asked_start, _ in cloud.metric_queries:
        assert asked_start >= datetime(2026, 12, 3, 10, 1, tzinfo=UTC)
    # Platform metrics have no percentile: the p95 is never shown, so the step cannot pass.
    assert result.verdict is Verdict.INCONCLUSIVE
    assert any("no latency histogram" in reason for reason in result.reasons)


def test_metrics_that_never_arrive_hold_the_step(cloud: FakeAzure) -> None:
    cloud.ingestion_delay_seconds = 24 * 3600
    clock = simulated(cloud, WEIGHTS_CHANGED)
    result = bake(
        "canary 10%",
        GATE.bake_seconds,
        Pool.CANARY,
        monitor(cloud, delay=180),
        GATE,
        Progress(),
        False,
        clock,
        clock.sleep,
    )
    assert result.verdict is Verdict.INCONCLUSIVE
    assert "no request reached the canary pool" in result.reasons[0]


def test_missing_late_minutes_are_no_evidence_either(cloud: FakeAzure) -> None:
    cloud.ingestion_delay_seconds = 24 * 3600
    cloud.late_minutes = "missing"
    clock = simulated(cloud, WEIGHTS_CHANGED)
    clock.now += 600
    evidence = monitor(cloud, delay=0).evidence(Pool.CANARY, clock.now - 300, clock.now)
    assert evidence.requests == 0


def test_http_logs_give_errors_and_the_p95_of_each_slot(cloud: FakeAzure) -> None:
    from azure.monitor.query import LogsQueryClient

    cloud.bad_versions.add("6.6.6")
    cloud.slots[azure.SLOT].tag = "6.6.6"
    logs = LogsQueryClient(StaticToken(), endpoint=cloud.url, retry_total=0)  # type: ignore[arg-type]
    source = LogAnalyticsSource(target(workspace=True), logs, delay_seconds=1.0, latency_limit_seconds=0.4)
    started = time.time()
    time.sleep(2.0)
    until = source.complete_until(Pool.CANARY, time.time())
    assert until is not None
    canary, stable = (source.evidence(pool, started, until) for pool in (Pool.CANARY, Pool.STABLE))
    assert canary.requests > 0 and canary.errors == pytest.approx(canary.requests / 10, abs=20)
    assert canary.slower_than(0.4) == canary.requests  # every request took 900 ms
    assert stable.errors == 0 and stable.slower_than(0.4) == 0
    assert (0.4, stable.requests) in stable.latency  # the gate's own limit is a bound


needs_prometheus = pytest.mark.skipif(not PROMETHEUS_INSTALLED, reason="prometheus is not installed")

API = api_metrics_spec("http://127.0.0.1:9")


@pytest.fixture
def api_metrics(tmp_path: Path) -> Iterator[ApiMetrics]:
    versions = {"blue": "1.0.0", "green": "6.6.6"}
    metrics = ApiMetrics(tmp_path / "prometheus", versions.__getitem__)
    metrics.bad_versions.add("6.6.6")
    metrics.start()
    try:
        yield metrics
    finally:
        metrics.stop()


@pytest.mark.e2e
@needs_prometheus
def test_real_prometheus_counts_the_span_asked_for_and_says_how_fresh_it_is(api_metrics: ApiMetrics) -> None:
    """The fake ignored the query's range; the real one counts what the exporter served in it."""
    source = PrometheusSource(
        API.model_copy(update={"url": api_metrics.url}),
        lambda pool: "green" if pool is Pool.CANARY else "blue",
    )
    time.sleep(6)
    now = time.time()
    until = source.complete_until(Pool.CANARY, now)
    assert until is not None and now - 3 < until <= now  # the last scrape, a second ago at most
    short, long = (source.evidence(Pool.CANARY, until - span, until) for span in (2.0, 4.0))
    rate = api_metrics.exporter.requests_per_second
    assert short.requests == pytest.approx(2 * rate, rel=0.3)
    assert long.requests == pytest.approx(4 * rate, rel=0.3)
    assert long.errors == pytest.approx(long.requests / 10, rel=0.3)  # 6.6.6 answers 10% 5xx
    assert long.slower_than(0.5) == pytest.approx(long.requests, rel=0.01)  # and takes 900 ms
    stable = source.evidence(Pool.STABLE, until - 4, until)
    assert stable.errors == 0 and stable.slower_than(0.5) == 0


@pytest.mark.e2e
@needs_prometheus
def test_a_target_no_longer_scraped_has_no_fresh_data(api_metrics: ApiMetrics) -> None:
    source = PrometheusSource(API.model_copy(update={"url": api_metrics.url}), lambda pool: "green")
    time.sleep(3)
    assert source.complete_until(Pool.CANARY, time.time()) is not None
    api_metrics.exporter.stop()  # the scrape target goes away: Prometheus marks its series stale
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and source.complete_until(Pool.CANARY, time.time()) is not None:
        time.sleep(0.5)
    assert source.complete_until(Pool.CANARY, time.time()) is None


@pytest.mark.e2e
@needs_prometheus
def test_a_bad_canary_on_real_prometheus_fails_the_bake(api_metrics: ApiMetrics) -> None:
    source = PrometheusSource(
        API.model_copy(update={"url": api_metrics.url}),
        lambda pool: "green" if pool is Pool.CANARY else "blue",
    )
    time.sleep(2)
    gate = AnalysisGate(bake_seconds=2, interval_seconds=0.5, max_bake_seconds=30, max_idle_seconds=10)
    result = bake("canary 10%", 2, Pool.CANARY, source, gate, Progress(), True)
    assert result.verdict is Verdict.FAIL
    assert not math.isnan(result.analyses[-1].judged.requests)
