"""Per-pool figures from the Prometheus HTTP API, queried with PromQL as the gates would on EKS.

Requests and 5xx responses come from the router's own counters (HAProxy's exporter, labelled by
server, which is the pool); p95 latency comes from the app's request-duration histogram, which the
app labels with the pool HAProxy names in the request (`http-send-name-header`).
"""

from __future__ import annotations

import math

import httpx

from releases.model import Pool, PoolSample
from releases.topology import PrometheusMetrics

QUERY_TIMEOUT_SECONDS = 5.0


class MetricsUnavailableError(Exception):
    """Prometheus could not be asked or did not answer a query."""


def _selector(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{name}="{value}"' for name, value in sorted(labels.items())) + "}"


class PrometheusSource:
    def __init__(self, targets: PrometheusMetrics) -> None:
        self.targets = targets

    def query(self, promql: str) -> float | None:
        """One instant query returning a single number, or None when there is no data (yet)."""
        try:
            response = httpx.get(
                f"{self.targets.url.rstrip('/')}/api/v1/query",
                params={"query": promql},
                timeout=QUERY_TIMEOUT_SECONDS,
            )
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise MetricsUnavailableError(f"Prometheus at {self.targets.url}: {error}") from None
        if document.get("status") != "success":
            raise MetricsUnavailableError(f"Prometheus rejected {promql!r}: {document.get('error')}")
        results = document["data"]["result"]
        if not results:
            return None
        value = float(results[0]["value"][1])
        return None if math.isnan(value) else value

    def queries(self, pool: Pool, window_seconds: float) -> dict[str, str]:
        window = f"{max(1, round(window_seconds))}s"
        responses = {**self.targets.responses_labels, self.targets.responses_pool_label: pool.value}
        errors = {**responses, "code": "5xx"}
        latency = {**self.targets.latency_labels, self.targets.latency_pool_label: pool.value}
        metric = self.targets.responses_metric
        histogram = f"{self.targets.latency_histogram}_bucket"
        return {
            "requests": f"sum(increase({metric}{_selector(responses)}[{window}]))",
            "errors": f"sum(increase({metric}{_selector(errors)}[{window}]))",
            "p95": f"histogram_quantile(0.95, sum by (le) (rate({histogram}{_selector(latency)}[{window}])))",
        }

    def sample(self, pool: Pool, window_seconds: float) -> PoolSample:
        queries = self.queries(pool, window_seconds)
        return PoolSample(
            requests=self.query(queries["requests"]) or 0.0,
            errors=self.query(queries["errors"]) or 0.0,
            p95_seconds=self.query(queries["p95"]),
        )
