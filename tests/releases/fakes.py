"""In-memory router, slot pair and metric source for engine tests: stateful, counting writes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pydantic import SecretStr

from releases.errors import Refused, TargetUnavailable
from releases.model import Pool, PoolSample, SlotHealth, Weights
from releases.targets.backups.protocol import Backup
from releases.targets.bundle import Targets
from releases.targets.metrics.protocol import NO_EVIDENCE, MetricsUnavailableError, PoolEvidence


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
    # What smoke-test requests get, by path; any other path answers 404.
    pages: dict[str, tuple[int, str]] = field(default_factory=lambda: {"/": (200, "ok")})

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
    unresolved: list[str] = field(default_factory=list)
    fetched: list[tuple[str, str]] = field(default_factory=list)  # (slot name, path) per smoke request
    # A swap fails, changing nothing, as one whose router (or App Service) went away would.
    swap_unavailable: bool = False

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

    def unresolved_references(self) -> list[str]:
        return self.unresolved

    def url(self, staging: bool) -> str:
        return f"http://{(self.staging if staging else self.production).name}.invalid"

    def fetch(self, staging: bool, path: str, timeout: float) -> tuple[int, str]:
        slot = self.staging if staging else self.production
        self.fetched.append((slot.name, path))
        return slot.pages.get(path, (404, "not found"))

    def swap(self) -> None:
        if self.swap_unavailable:
            raise TargetUnavailable("slots: the router's runtime API is unreachable")
        self.swaps += 1
        self.production, self.staging = self.staging, self.production


@dataclass
class FakeMetrics:
    """Per-pool traffic *per second* of the engine's clock, complete up to the moment asked (no
    ingestion delay): by default plenty of clean, fast traffic. Every request takes the sample's
    `p95_seconds` (a histogram with that one bound)."""

    samples: dict[Pool, PoolSample] = field(
        default_factory=lambda: {pool: PoolSample(requests=1000, errors=0, p95_seconds=0.05) for pool in Pool}
    )
    delay_seconds: float = 0.0
    unavailable: str | None = None  # the error every question gets, as an unreachable source

    def align(self, start: float) -> float:
        return start

    def complete_until(self, pool: Pool, now: float) -> float | None:
        if self.unavailable is not None:
            raise MetricsUnavailableError(self.unavailable)
        return now

    def evidence(self, pool: Pool, start: float, end: float) -> PoolEvidence:
        if self.unavailable is not None:
            raise MetricsUnavailableError(self.unavailable)
        rate, seconds = self.samples[pool], end - start
        requests = rate.requests * seconds
        latency = () if rate.p95_seconds is None else ((rate.p95_seconds, requests), (math.inf, requests))
        return PoolEvidence(requests, rate.errors * seconds, latency)

    def unattributed(self, start: float, end: float) -> PoolEvidence:
        return NO_EVIDENCE


@dataclass
class FakeSecrets:
    values: dict[str, str] = field(default_factory=lambda: {"DATABASE_URL": "postgresql://app:pw@db/app"})

    def names(self) -> set[str]:
        return set(self.values)

    def value(self, name: str) -> SecretStr:
        if name not in self.values:
            raise Refused(f"no secret {name}")
        return SecretStr(self.values[name])

    def __str__(self) -> str:
        return "the fake store"


@dataclass
class FakeDatabase:
    backups: list[str] = field(default_factory=list)
    refusal: str | None = None

    def backup(self, name: str, timeout: float) -> Backup:
        if self.refusal is not None:
            raise Refused(self.refusal)
        self.backups.append(name)
        return Backup(
            f"/backups/{name}.dump",
            1024,
            "restored into a scratch database: 3 tables match",
            f"pg_restore --clean /backups/{name}.dump",
        )


@dataclass
class FakeWorld:
    router: FakeRouter = field(default_factory=FakeRouter)
    slots: FakeSlots = field(default_factory=FakeSlots)
    metrics: FakeMetrics = field(default_factory=FakeMetrics)
    secrets: FakeSecrets = field(default_factory=FakeSecrets)
    database: FakeDatabase = field(default_factory=FakeDatabase)

    @property
    def targets(self) -> Targets:
        return Targets(
            router=self.router,
            slots=self.slots,
            metrics=self.metrics,
            secrets=self.secrets,
            database=self.database,
        )


class FakeClock:
    """Time that moves only when the engine sleeps, so bakes take no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
