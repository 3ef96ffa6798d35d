"""In-memory router, slot pair and metric source for engine tests: stateful, counting writes."""

from __future__ import annotations

from dataclasses import dataclass, field

from releases.errors import Refused, TargetUnavailable
from releases.model import Pool, PoolSample, SlotHealth, Weights
from releases.targets.base import Targets


@dataclass
class FakeRouter:
    weights: Weights = field(default_factory=Weights.all_stable)
    canary_up: bool = True
    writes: list[Weights] = field(default_factory=list)
    # A write of these weights fails as a blocked or unreachable router would.
    unavailable_for: Weights | None = None

    def read_weights(self) -> Weights:
        return self.weights

    def write_weights(self, weights: Weights) -> None:
        if self.unavailable_for is not None and weights.matches(self.unavailable_for):
            raise TargetUnavailable("router: rate-limited with Retry-After 300 s")
        self.writes.append(weights)
        self.weights = weights

    def pool_up(self, pool: Pool) -> bool:
        return self.canary_up if pool is Pool.CANARY else True


@dataclass
class FakeSlot:
    name: str
    version: str
    healthy: bool = True

    def health(self) -> SlotHealth:
        return SlotHealth(self.name, self.version, self.healthy, self.healthy)


@dataclass
class FakeSlots:
    production: FakeSlot = field(default_factory=lambda: FakeSlot("blue", "1.0.0"))
    staging: FakeSlot = field(default_factory=lambda: FakeSlot("green", "1.0.0"))
    swaps: int = 0
    deploys: list[str] = field(default_factory=list)
    preflights: int = 0
    preflight_refusal: str | None = None

    def probe(self) -> tuple[SlotHealth, SlotHealth]:
        return self.production.health(), self.staging.health()

    def probe_staging(self) -> SlotHealth:
        return self.staging.health()

    def deploy_staging(self, version: str) -> None:
        self.deploys.append(version)
        self.staging.version = version

    def preflight(self) -> None:
        self.preflights += 1
        if self.preflight_refusal is not None:
            raise Refused(self.preflight_refusal)

    def swap(self) -> None:
        self.swaps += 1
        self.production, self.staging = self.staging, self.production


@dataclass
class FakeMetrics:
    """Per-pool samples; by default plenty of clean traffic."""

    samples: dict[Pool, PoolSample] = field(
        default_factory=lambda: {pool: PoolSample(requests=1000, errors=0, p95_seconds=0.05) for pool in Pool}
    )

    def sample(self, pool: Pool, window_seconds: float) -> PoolSample:
        return self.samples[pool]


@dataclass
class FakeWorld:
    router: FakeRouter = field(default_factory=FakeRouter)
    slots: FakeSlots = field(default_factory=FakeSlots)
    metrics: FakeMetrics = field(default_factory=FakeMetrics)

    @property
    def targets(self) -> Targets:
        return Targets(router=self.router, slots=self.slots, metrics=self.metrics)


class FakeClock:
    """Time that moves only when the engine sleeps, so bakes take no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
