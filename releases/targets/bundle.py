"""One service's adapters, one per role, as the engine gets them from the factory."""

from __future__ import annotations

from dataclasses import dataclass

from releases.targets.backups.protocol import Database
from releases.targets.metrics.protocol import MetricSource
from releases.targets.routers.protocol import TrafficRouter
from releases.targets.secrets.protocol import SecretStore
from releases.targets.slots.protocol import SlotPair


@dataclass(frozen=True)
class Targets:
    router: TrafficRouter
    slots: SlotPair
    metrics: MetricSource
    secrets: SecretStore | None = None  # None: the environment describes no secret store
    database: Database | None = None  # None: the service has no database to back up
