"""What the gates ask of a metric source (Prometheus, Azure Monitor, Log Analytics), and the
evidence it answers with."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from releases.model import Pool


class MetricsUnavailableError(Exception):
    """The metric source could not be asked or did not answer; the gate counts it as no data."""


@dataclass(frozen=True)
class PoolEvidence:
    """What a pool served over one span of complete data: request and 5xx counts and the latency
    histogram, as cumulative counts per upper bound (Prometheus' `le`), ascending; the last bound
    may be infinity. Counts may be fractional (Prometheus extrapolates `increase`)."""

    requests: float
    errors: float
    latency: tuple[tuple[float, float], ...] = ()

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None

    def slower_than(self, bound: float) -> float:
        """Requests slower than `bound` seconds, `bound` being one of the histogram's bounds."""
        at_or_under = next((count for upper, count in self.latency if upper == bound), None)
        if at_or_under is None:
            raise ValueError(f"{bound} s is not a bound of this histogram")
        return max(0.0, self.requests - at_or_under)

    @property
    def p95_seconds(self) -> float | None:
        """The p95 interpolated within its bucket, as `histogram_quantile` does: for display."""
        return self.quantile(0.95)

    def quantile(self, q: float) -> float | None:
        total = self.latency[-1][1] if self.latency else 0.0
        if total <= 0:
            return None
        rank, lower, below = q * total, 0.0, 0.0
        for upper, count in self.latency:
            if count >= rank:
                if math.isinf(upper):
                    return lower
                inside = count - below
                return lower + (upper - lower) * ((rank - below) / inside if inside > 0 else 1.0)
            lower, below = upper, count
        return lower

    def __add__(self, other: PoolEvidence) -> PoolEvidence:
        """Two spans (or a pool and the router's unattributed errors) together; histograms add
        where both have them."""
        bounds = dict(self.latency)
        merged = tuple((upper, count + bounds[upper]) for upper, count in other.latency if upper in bounds)
        latency = merged if self.latency and other.latency else self.latency or other.latency
        return PoolEvidence(self.requests + other.requests, self.errors + other.errors, latency)


NO_EVIDENCE = PoolEvidence(0.0, 0.0)


class MetricSource(Protocol):
    """Per-pool evidence over spans of *complete* data, with times in epoch seconds.

    A source says how far its data is complete (`complete_until`): Prometheus up to its last
    scrape of the pool, Azure Monitor up to its last whole minute past the ingestion delay. The
    gates never judge a span that ends later, nor one that starts before the step's weight change.
    """

    # How far behind `now` complete data lags at best; a bake's deadline is extended by it.
    delay_seconds: float

    def align(self, start: float) -> float:
        """The first time at or after `start` where a span can begin (a minute's start when the
        source counts by minute)."""
        ...

    def complete_until(self, pool: Pool, now: float) -> float | None:
        """Up to when the pool's data is complete, or None when the source has none for it (a
        target no longer scraped). Raises `MetricsUnavailableError` when it cannot be asked."""
        ...

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        """What the pool served in [start, end]. Raises `MetricsUnavailableError`."""
        ...

    def unattributed(self, start: float, end: float) -> PoolEvidence:
        """Errors the router answered itself, through no pool (HAProxy's 503 when no server is
        up): the gates count them against the judged pool. NO_EVIDENCE where the source cannot
        tell."""
        ...
