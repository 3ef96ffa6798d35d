"""Per-pool figures from the Prometheus HTTP API, queried with PromQL as the gates would on EKS.

Requests and 5xx responses come from the router's own counters (HAProxy's exporter, labelled by
server, which is the pool); p95 latency comes from the app's request-duration histogram, which the
app labels with the pool HAProxy names in the request (`http-send-name-header`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import httpx

from releases.model import Pool
from releases.redact import mask, redact_url
from releases.targets.metrics.protocol import NO_EVIDENCE, MetricsUnavailableError, PoolEvidence
from releases.topology import PrometheusMetricsSpec

QUERY_TIMEOUT_SECONDS = 5.0


def _selector(labels: dict[str, str], matches: dict[str, str] | None = None) -> str:
    """Exact label matchers, plus regular-expression ones from `matches`."""
    exact = [f'{name}="{value}"' for name, value in sorted(labels.items())]
    regex = [f'{name}=~"{pattern}"' for name, pattern in sorted((matches or {}).items())]
    return "{" + ",".join(exact + regex) + "}"


def pool_name(pool: Pool) -> str:
    return pool.value


class PrometheusSource:
    """Evidence over [start, end] is `increase(...[end - start])` evaluated at `end`, so a span is
    exactly the step's, however long; data is complete up to the newest scrape of the pool's
    series (`timestamp()`), and a target that stopped being scraped has none (its series went
    stale). HAProxy's own 5xx (no server up) are its frontend's 5xx that no server counted."""

    delay_seconds = 0.0  # a scrape is queryable as soon as it is stored

    def __init__(
        self, targets: PrometheusMetricsSpec, pool_label_value: Callable[[Pool], str] = pool_name
    ) -> None:
        """`pool_label_value` says which label value holds a pool's figures: the pool's own name
        where the router labels them (HAProxy), the colour serving it on Kubernetes."""
        self.targets = targets
        self.pool_label_value = pool_label_value

    def _ask(self, promql: str, at: float) -> list[dict[str, Any]]:
        try:
            response = httpx.get(
                f"{self.targets.url.rstrip('/')}/api/v1/query",
                params={"query": promql, "time": f"{at:.3f}"},
                timeout=QUERY_TIMEOUT_SECONDS,
            )
            document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            # httpx's messages quote the request URL, credentials included: both are masked.
            where = redact_url(self.targets.url)
            raise MetricsUnavailableError(
                f"Prometheus at {where}: {mask(str(error), [self.targets.url])}"
            ) from None
        if response.status_code != 200 or document.get("status") != "success":
            rejected = mask(str(document.get("error")), [self.targets.url])
            raise MetricsUnavailableError(
                f"Prometheus at {redact_url(self.targets.url)} rejected {promql!r}: HTTP "
                f"{response.status_code}, {rejected}"
            )
        return list(document["data"]["result"])

    def query(self, promql: str, at: float) -> float | None:
        """One instant query returning a single number, or None when there is no data."""
        results = self._ask(promql, at)
        if not results:
            return None
        value = float(results[0]["value"][1])
        return None if math.isnan(value) else value

    def _responses(self, pool: Pool | None, errors: bool = False) -> str:
        labels = dict(self.targets.responses_labels)
        if pool is not None:
            labels[self.targets.responses_pool_label] = self.pool_label_value(pool)
        matches = {self.targets.error_label: self.targets.error_pattern} if errors else None
        return f"{self.targets.responses_metric}{_selector(labels, matches)}"

    def queries(self, pool: Pool, seconds: float) -> dict[str, str]:
        window = f"{max(1, round(seconds * 1000))}ms"
        latency = {
            **self.targets.latency_labels,
            self.targets.latency_pool_label: self.pool_label_value(pool),
        }
        histogram = f"{self.targets.latency_histogram}_bucket{_selector(latency)}"
        return {
            "requests": f"sum(increase({self._responses(pool)}[{window}]))",
            "errors": f"sum(increase({self._responses(pool, errors=True)}[{window}]))",
            "latency": f"sum by (le) (increase({histogram}[{window}]))",
        }

    def align(self, start: float) -> float:
        return start

    def complete_until(self, pool: Pool, now: float) -> float | None:
        last = self.query(f"max(timestamp({self._responses(pool)}))", now)
        return None if last is None else min(last, now)

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        queries = self.queries(pool, end - start)
        requests = self.query(queries["requests"], end) or 0.0
        errors = min(self.query(queries["errors"], end) or 0.0, requests)
        buckets = []
        for result in self._ask(queries["latency"], end):
            value = float(result["value"][1])
            buckets.append((float(result["metric"].get("le", "+Inf")), 0.0 if math.isnan(value) else value))
        return PoolEvidence(requests, errors, tuple(sorted(buckets)))

    def unattributed(self, start: float, end: float) -> PoolEvidence:
        metric = self.targets.router_errors_metric
        if metric is None:
            return NO_EVIDENCE
        window = f"{max(1, round((end - start) * 1000))}ms"
        routed = self.query(
            f"sum(increase({metric}{_selector(self.targets.router_errors_labels)}[{window}]))", end
        )
        served = self.query(f"sum(increase({self._responses(None, errors=True)}[{window}]))", end)
        own = max(0.0, (routed or 0.0) - (served or 0.0))
        # Below one whole request is the two counters' extrapolations differing, not an error.
        return PoolEvidence(own, own) if own >= 1 else NO_EVIDENCE
