"""The three things a release moves or watches, as the engine sees them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from pydantic import SecretStr

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


class MetricSource(Protocol):
    def sample(self, pool: Pool, window_seconds: float) -> PoolSample: ...


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
