"""The three things a release moves or watches, as the engine sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from releases.model import Pool, PoolSample, SlotHealth, Weights


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


class MetricsUnavailableError(Exception):
    """The metric source could not be asked or did not answer; the gate counts it as no data."""


class MetricSource(Protocol):
    def sample(self, pool: Pool, window_seconds: float) -> PoolSample: ...


@dataclass(frozen=True)
class Targets:
    router: TrafficRouter
    slots: SlotPair
    metrics: MetricSource
