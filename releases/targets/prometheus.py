"""Per-pool figures from the Prometheus HTTP API, queried with PromQL as the gates would on EKS.

Requests and 5xx responses come from the router's own counters (HAProxy's exporter, labelled by
server, which is the pool); p95 latency comes from the app's request-duration histogram, which the
app labels with the pool HAProxy names in the request (`http-send-name-header`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import httpx

from releases.model import Pool, PoolSample
from releases.redact import mask, redact_url
from releases.targets.base import MetricsUnavailableError
from releases.topology import PrometheusMetrics

QUERY_TIMEOUT_SECONDS = 5.0


def _selector(labels: dict[str, str], matches: dict[str, str] | None = None) -> str:
    """Exact label matchers, plus regular-expression ones from `matches`."""
    exact = [f'{name}="{value}"' for name, value in sorted(labels.items())]
    regex = [f'{name}=~"{pattern}"' for name, pattern in sorted((matches or {}).items())]
    return "{" + ",".join(exact + regex) + "}"


def pool_name(pool: Pool) -> str:
    return pool.value


class PrometheusSource:
    def __init__(
        self, targets: PrometheusMetrics, pool_label_value: Callable[[Pool], str] = pool_name
    ) -> None:
        """`pool_label_value` says which label value holds a pool's figures: the pool's own name
        where the router labels them (HAProxy), the colour serving it on Kubernetes."""
        self.targets = targets
        self.pool_label_value = pool_label_value

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
            # httpx's messages quote the request URL, credentials included: both are masked.
            where = redact_url(self.targets.url)
            raise MetricsUnavailableError(
                f"Prometheus at {where}: {mask(str(error), [self.targets.url])}"
            ) from None
        if document.get("status") != "success":
            rejected = mask(str(document.get("error")), [self.targets.url])
            raise MetricsUnavailableError(f"Prometheus rejected {promql!r}: {rejected}")
        results = document["data"]["result"]
        if not results:
            return None
        value = float(results[0]["value"][1])
        return None if math.isnan(value) else value

    def queries(self, pool: Pool, window_seconds: float) -> dict[str, str]:
        window = f"{max(1, round(window_seconds))}s"
        value = self.pool_label_value(pool)
        responses = {**self.targets.responses_labels, self.targets.responses_pool_label: value}
        errors = {self.targets.error_label: self.targets.error_pattern}
        latency = {**self.targets.latency_labels, self.targets.latency_pool_label: value}
        metric = self.targets.responses_metric
        histogram = f"{self.targets.latency_histogram}_bucket"
        return {
            "requests": f"sum(increase({metric}{_selector(responses)}[{window}]))",
            "errors": f"sum(increase({metric}{_selector(responses, errors)}[{window}]))",
            "p95": f"histogram_quantile(0.95, sum by (le) (rate({histogram}{_selector(latency)}[{window}])))",
        }

    def sample(self, pool: Pool, window_seconds: float) -> PoolSample:
        queries = self.queries(pool, window_seconds)
        return PoolSample(
            requests=self.query(queries["requests"]) or 0.0,
            errors=self.query(queries["errors"]) or 0.0,
            p95_seconds=self.query(queries["p95"]),
        )
