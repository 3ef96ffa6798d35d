"""From a service's topology to its adapters: one builder per spec kind, in one table per role.

This is where adapters are imported lazily: each builder imports its adapter module (and with it
the vendor's SDK) only when a topology names that kind, so the sandbox's `invoke status` never
loads Azure, Kubernetes or Cloudflare code. Everything else imports at module top, but for
`releases/state/url.py`, which reaches Key Vault only when the state URL is kept there.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from releases.settings import CloudSettings, ReleaseSettings
from releases.state.url import state_url
from releases.targets.backups.protocol import Database
from releases.targets.bundle import Targets
from releases.targets.metrics.protocol import MetricSource
from releases.targets.routers.protocol import TrafficRouter
from releases.targets.secrets.protocol import SecretStore
from releases.targets.slots.protocol import SlotPair
from releases.topology import (
    AppServiceSlotPairSpec,
    AzureMonitorMetricsSpec,
    CloudflareRouterSpec,
    HAProxyRouterSpec,
    KeyVaultSecretStoreSpec,
    KubernetesSlotPairSpec,
    PostgresFlexibleServerSpec,
    PrometheusMetricsSpec,
    SandboxPostgresSpec,
    SandboxSecretStoreSpec,
    SandboxSlotPairSpec,
    ServiceTargets,
    Topology,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from releases.targets.clients.retrying import RetryPolicy
    from releases.targets.slots.kubernetes import KubernetesSlots


@dataclass
class _Context:
    """What one service's builders share: its settings and spec, and one Azure credential (so the
    slots and the metrics do not each go looking for one)."""

    settings: ReleaseSettings
    environment: str
    service: str
    targets: ServiceTargets
    # The store that keeps the shared Cloudflare request budget; its password stays out of reprs.
    state_url: str = field(repr=False)
    _azure_credential: TokenCredential | None = None

    @property
    def clouds(self) -> CloudSettings:
        return self.settings.clouds

    def azure_credential(self) -> TokenCredential:
        from releases.targets.clients import azure_auth

        if self._azure_credential is None:
            self._azure_credential = azure_auth.credential(self.clouds)
        return self._azure_credential

    def retry_policy(self) -> RetryPolicy:
        from releases.targets.clients.retrying import RetryPolicy

        return RetryPolicy(self.clouds.retry_timeout_seconds, self.clouds.max_retry_after_seconds)


def connect(settings: ReleaseSettings, topology: Topology, service: str) -> Targets:
    context = _Context(
        settings, topology.environment, service, topology.service(service), state_url(settings)
    )
    spec = context.targets
    slots = _build(SLOTS, spec.slots, context)
    secrets = _build(SECRET_STORES, spec.secrets, context) if spec.secrets is not None else None
    database = None
    if spec.database is not None:
        database = _build(DATABASES, spec.database, context, secrets)
    return Targets(
        router=_build(ROUTERS, spec.router, context),
        slots=slots,
        metrics=_build(METRIC_SOURCES, spec.metrics, context, slots),
        secrets=secrets,
        database=database,
    )


def _build(table: dict[type, Callable[..., Any]], spec: object, context: _Context, *more: object) -> Any:
    """The builder for the spec's kind (the topology's validation admits no other kinds)."""
    return table[type(spec)](spec, context, *more)


# -- routers ----------------------------------------------------------------------------------------


def _haproxy(spec: HAProxyRouterSpec, _: _Context) -> TrafficRouter:
    from releases.targets.routers.haproxy import HAProxyRouter, RuntimeAPI

    return HAProxyRouter(RuntimeAPI(spec.runtime_api), spec.backend)


def _cloudflare(spec: CloudflareRouterSpec, context: _Context) -> TrafficRouter:
    from releases.state.store import open_store
    from releases.targets.clients.retrying import SharedRequestBudget, budget_scope
    from releases.targets.routers.cloudflare import (
        TOKEN_VARIABLE,
        CloudflareLoadBalancer,
        client_from_environment,
    )

    clouds = context.clouds
    client = client_from_environment(clouds.request_timeout_seconds)
    # One budget per token for every process sharing the state store (laptops and CI alike).
    scope = budget_scope("cloudflare", os.environ[TOKEN_VARIABLE])
    budget = SharedRequestBudget(
        open_store(context.state_url), scope, clouds.cloudflare_requests_per_5_minutes
    )
    return CloudflareLoadBalancer(spec, client, context.retry_policy(), budget)


ROUTERS: dict[type, Callable[..., TrafficRouter]] = {
    HAProxyRouterSpec: _haproxy,
    CloudflareRouterSpec: _cloudflare,
}


# -- slots ------------------------------------------------------------------------------------------


def _sandbox_slots(spec: SandboxSlotPairSpec, context: _Context) -> SlotPair:
    from releases.sandbox.environment import Sandbox
    from releases.targets.slots.sandbox import SandboxSlots

    sandbox, service = Sandbox(context.settings.sandbox_dir), context.service
    return SandboxSlots(spec, context.targets.health, deploy=lambda version: sandbox.deploy(service, version))


def _app_service(spec: AppServiceSlotPairSpec, context: _Context) -> SlotPair:
    from azure.mgmt.web import WebSiteManagementClient

    from releases.targets.clients import azure_auth
    from releases.targets.slots.app_service import AppServiceSlots

    clouds, credential = context.clouds, context.azure_credential()
    options = azure_auth.arm_client_options(clouds, polling_interval=5)
    client = WebSiteManagementClient(credential, spec.subscription_id, **options)
    return AppServiceSlots(
        spec,
        context.targets.health,
        client,
        credential,
        azure_auth.arm_scope(clouds),
        context.retry_policy(),
        clouds.swap_timeout_seconds,
    )


def _kubernetes(spec: KubernetesSlotPairSpec, context: _Context) -> SlotPair:
    from releases.targets.slots.kubernetes import KubernetesSlots, api_client

    clouds = context.clouds
    client = api_client(spec, clouds.kubeconfig)
    return KubernetesSlots(spec, client, context.retry_policy(), clouds.request_timeout_seconds)


SLOTS: dict[type, Callable[..., SlotPair]] = {
    SandboxSlotPairSpec: _sandbox_slots,
    AppServiceSlotPairSpec: _app_service,
    KubernetesSlotPairSpec: _kubernetes,
}


# -- metric sources ---------------------------------------------------------------------------------


def _prometheus(spec: PrometheusMetricsSpec, context: _Context, slots: SlotPair) -> MetricSource:
    from releases.targets.metrics.prometheus import PrometheusSource, pool_name

    # On Kubernetes the figures are labelled by colour; which colour serves a pool is live state.
    # (Told from the topology, so the sandbox never imports the Kubernetes adapter.)
    if isinstance(context.targets.slots, KubernetesSlotPairSpec):
        return PrometheusSource(spec, cast("KubernetesSlots", slots).pool_label_value)
    return PrometheusSource(spec, pool_name)


def _azure_monitor(spec: AzureMonitorMetricsSpec, context: _Context, _: SlotPair) -> MetricSource:
    clouds = context.clouds
    if spec.log_analytics_workspace_id is not None:
        # Per-request logs: what a p95 gate needs (platform metrics have only a mean latency).
        from azure.monitor.query import LogsQueryClient

        from releases.targets.metrics.log_analytics import LogAnalyticsSource

        policy = context.settings.environments.get(context.environment)
        latency_limit = policy.analysis.max_p95_seconds if policy is not None else None
        logs = LogsQueryClient(
            context.azure_credential(), endpoint=clouds.log_analytics_endpoint, retry_total=3
        )
        return LogAnalyticsSource(spec, logs, clouds.log_analytics_ingestion_delay_seconds, latency_limit)
    from azure.monitor.querymetrics import MetricsClient

    from releases.targets.metrics.azure_monitor import AzureMonitorSource

    endpoint = clouds.azure_metrics_endpoint.replace("{region}", spec.region)
    client = MetricsClient(endpoint, context.azure_credential(), retry_total=3)
    return AzureMonitorSource(spec, client, clouds.azure_metrics_ingestion_delay_seconds)


METRIC_SOURCES: dict[type, Callable[..., MetricSource]] = {
    PrometheusMetricsSpec: _prometheus,
    AzureMonitorMetricsSpec: _azure_monitor,
}


# -- secret stores ----------------------------------------------------------------------------------


def _sandbox_secrets(spec: SandboxSecretStoreSpec, _: _Context) -> SecretStore:
    from releases.targets.secrets.sandbox import SandboxSecrets

    return SandboxSecrets(Path(spec.path))


def _key_vault(spec: KeyVaultSecretStoreSpec, context: _Context) -> SecretStore:
    from releases.targets.secrets.key_vault import KeyVaultSecrets

    return KeyVaultSecrets(spec, context.azure_credential(), context.clouds)


SECRET_STORES: dict[type, Callable[..., SecretStore]] = {
    SandboxSecretStoreSpec: _sandbox_secrets,
    KeyVaultSecretStoreSpec: _key_vault,
}


# -- databases (backups before a migration) ---------------------------------------------------------


def _sandbox_postgres(
    spec: SandboxPostgresSpec, context: _Context, secrets: SecretStore | None
) -> Database | None:
    from releases.targets.backups.pg_dump import PgDumpBackups

    if secrets is None:
        return None  # the pre-flight refuses a migration without a store holding its URL
    url_secret = context.settings.environment(context.environment).migrations.database_url_secret
    return PgDumpBackups(spec, secrets, url_secret)


def _flexible_server(spec: PostgresFlexibleServerSpec, context: _Context, _: SecretStore | None) -> Database:
    from releases.targets.backups.flexible_server import FlexibleServerBackups

    return FlexibleServerBackups(spec, context.azure_credential(), context.clouds)


DATABASES: dict[type, Callable[..., Database | None]] = {
    SandboxPostgresSpec: _sandbox_postgres,
    PostgresFlexibleServerSpec: _flexible_server,
}
