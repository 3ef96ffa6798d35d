"""Plain data the engine observes, plans with and returns. No behaviour beyond validation."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Pool(enum.StrEnum):
    """The router's two pools: `stable` serves the production slot, `canary` the staging slot."""

    STABLE = "stable"
    CANARY = "canary"


class Outcome(enum.StrEnum):
    """How a release ended."""

    PROMOTED = "promoted"
    ROLLED_BACK = "rolled_back"
    # Closed before any user traffic reached it (held at 0%), for a newer version.
    ABORTED = "aborted"
    # The environment the release ran in was torn down (the sandbox) before it finished.
    ABANDONED = "abandoned"


class HoldReason(enum.StrEnum):
    """Why a release in flight is held: traffic stays as it is until an operator runs `release`
    (to retry the step) or `rollback`."""

    GATE_FAILED = "gate failed"  # with --hold, or past an irreversible migration
    GATE_INCONCLUSIVE = "gate inconclusive"
    HEALTH_FAILED = "health failed"  # the staging slot never served the version before traffic
    INTERRUPTED = "interrupted"  # SIGINT/SIGTERM during a step
    PAUSED = "paused"  # `invoke pause`: the bake clock stopped until `invoke resume`
    APPROVAL = "waiting for approval"  # an `approve` step: until `invoke promote`


class ReleaseState(enum.StrEnum):
    """A release's state as operators see it: in flight, held, or how it ended."""

    IN_FLIGHT = "in flight"
    HELD = "held"
    PROMOTED = "promoted"
    ROLLED_BACK = "rolled back"
    ABORTED = "aborted"
    ABANDONED = "abandoned"


class Migration(enum.StrEnum):
    """What a release's migration allows: a reversible one leaves a schema the previous version
    still runs on; after an irreversible one, going back means restoring the backup."""

    REVERSIBLE = "reversible"
    IRREVERSIBLE = "irreversible"


@dataclass(frozen=True)
class Weights:
    """Pool weights as Cloudflare models them (`random_steering.pool_weights`): each in [0, 1]."""

    stable: float
    canary: float

    def __post_init__(self) -> None:
        for name, value in (("stable", self.stable), ("canary", self.canary)):
            if not (0.0 <= value <= 1.0) or math.isnan(value):
                raise ValueError(f"{name} weight must be within [0, 1], got {value}")
        if self.stable + self.canary == 0:
            raise ValueError("at least one pool must have a weight above 0")

    @classmethod
    def canary_percent(cls, percent: int) -> Weights:
        return cls(stable=round(1 - percent / 100, 6), canary=round(percent / 100, 6))

    @classmethod
    def all_stable(cls) -> Weights:
        return cls(stable=1.0, canary=0.0)

    @property
    def canary_share(self) -> float:
        """The share of requests the canary pool receives under random steering."""
        return self.canary / (self.stable + self.canary)

    def matches(self, other: Weights) -> bool:
        return math.isclose(self.stable, other.stable, abs_tol=1e-6) and math.isclose(
            self.canary, other.canary, abs_tol=1e-6
        )

    def __str__(self) -> str:
        return f"stable={self.stable:g} canary={self.canary:g}"


@dataclass(frozen=True)
class SlotHealth:
    """What one slot reports about itself. `version` is None when it could not be reached."""

    name: str
    version: str | None
    healthy: bool
    ready: bool
    detail: str = ""

    @property
    def serving(self) -> bool:
        return self.healthy and self.ready and self.version is not None


@dataclass(frozen=True)
class LiveState:
    """Everything the engine reads before it plans: the truth, as opposed to the journal."""

    weights: Weights
    production: SlotHealth
    staging: SlotHealth
    canary_pool_up: bool


@dataclass(frozen=True)
class PoolSample:
    """Request figures for one pool over the analysis window, as the metric source reports them."""

    requests: float
    errors: float
    p95_seconds: float | None
    # Sources without percentiles (Azure Monitor's platform metrics) report the mean instead.
    mean_seconds: float | None = None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests > 0 else None


@dataclass
class ReleaseRecord:
    """A release as the journal knows it. The live state is always checked against it."""

    id: str
    environment: str
    service: str
    version: str
    previous_version: str | None
    operator: str
    started_at: float
    finished_at: float | None = None
    outcome: Outcome | None = None
    last_percent: int | None = None
    migration: Migration | None = None  # the release runs a migration before its version is deployed
    hold: HoldReason | None = None  # set while the release is held
    hold_detail: str | None = None
    reason: str | None = None  # why the operator released (--reason)

    @property
    def in_flight(self) -> bool:
        return self.outcome is None

    @property
    def state(self) -> ReleaseState:
        if self.outcome is not None:
            return ReleaseState[self.outcome.name]
        return ReleaseState.HELD if self.hold is not None else ReleaseState.IN_FLIGHT

    def describe_state(self) -> str:
        """`in flight at 10%`, `held at 50% (gate inconclusive)`, `rolled back from 50%`..."""
        state = self.state
        if state is ReleaseState.IN_FLIGHT:
            return f"in flight at {self.last_percent or 0}%"
        if state is ReleaseState.HELD:
            return f"held at {self.last_percent or 0}% ({self.hold})"
        if state is ReleaseState.ROLLED_BACK and self.last_percent:
            return f"{state.value} from {self.last_percent}%"  # the furthest step it reached
        return state.value
