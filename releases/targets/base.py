"""The three things a release moves or watches, as the engine sees them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

from releases.model import Pool, SlotHealth, Weights


class TrafficRouter(Protocol):
    """Two weighted pools; weights are always written whole, in one write."""

    def read_weights(self) -> Weights: ...

    def write_weights(self, weights: Weights) -> None: ...

    def pool_up(self, pool: Pool) -> bool:
        """Whether the router's own health monitor considers the pool able to take traffic."""
        ...


class SlotPair(Protocol):
    """Production and staging slots; a swap exchanges what they serve without restarting."""

    def probe(self) -> tuple[SlotHealth, SlotHealth]:
        """(production, staging) as each reports itself right now."""
        ...

    def probe_staging(self) -> SlotHealth: ...

    def deploy_staging(self, version: str) -> None:
        """Put `version` on the staging slot; returns once the slot was told to (the engine then
        waits for it to report healthy, ready and the version)."""
        ...

    def swap(self) -> None: ...

    def preflight(self) -> None:
        """Raise `Refused` if a release could not go through: credentials missing, or a swap would
        restart what serves traffic. Called before a release changes anything, and before a swap."""
        ...

    def unresolved_references(self) -> list[str]:
        """Names of the staging slot's settings whose secret reference did not resolve (App Service
        passes an unresolved Key Vault reference to the app as the literal `@Microsoft.KeyVault(...)`
        string). Names only, never values."""
        ...

    def url(self, staging: bool) -> str | None:
        """Where a slot answers HTTP directly (for smoke-test commands), or None when it is reached
        only through an API (Kubernetes' service proxy)."""
        ...

    def fetch(self, staging: bool, path: str, timeout: float) -> tuple[int, str]:
        """GET `path` on a slot: (status, body). Raises `TargetUnavailable` when unreachable."""
        ...


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


class SecretStore(Protocol):
    """Where an environment's secrets live (Key Vault; the sandbox's own store)."""

    def names(self) -> set[str]:
        """The names of the secrets present and enabled; reads no value."""
        ...

    def value(self, name: str) -> SecretStr:
        """One secret's value (the migration's `DATABASE_URL`); `Refused` when absent."""
        ...


@dataclass(frozen=True)
class Backup:
    """An on-demand backup, taken and verified before a migration runs."""

    location: str  # a file, or the backup's name on the server
    size_bytes: int | None
    verification: str  # what was checked, in words, for the journal and the report
    restore_procedure: str  # what an operator runs to put the database back as it was


class Database(Protocol):
    def backup(self, name: str, timeout: float) -> Backup:
        """Take an on-demand backup named `name`, wait for it and verify it. Raises `Refused` when
        it cannot be taken or does not verify (nothing has migrated yet)."""
        ...


@dataclass(frozen=True)
class Targets:
    router: TrafficRouter
    slots: SlotPair
    metrics: MetricSource
    secrets: SecretStore | None = None  # None: the environment describes no secret store
    database: Database | None = None  # None: the service has no database to back up
