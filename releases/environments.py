"""From an environment's name (and optionally a topology file) to the adapters that drive it.

The sandbox describes itself; a cloud environment's topology comes from its stack's
`release_targets` output or from a file given with `--topology`. Each router, slot pair and metric
source kind has its adapter; cloud SDKs are imported only when a topology needs them, so the
sandbox's `invoke status` stays fast.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, cast

from releases.errors import BadInput
from releases.sandbox.environment import Sandbox
from releases.settings import CloudSettings, ReleaseSettings
from releases.state.url import state_url
from releases.targets.base import Database, MetricSource, SecretStore, SlotPair, Targets, TrafficRouter
from releases.topology import (
    AppServiceSlotPair,
    AzureMonitorMetrics,
    CloudflareRouter,
    HAProxyRouter,
    KeyVaultSecretStore,
    KubernetesSlotPair,
    PostgresFlexibleServer,
    PrometheusMetrics,
    SandboxPostgres,
    SandboxSecretStore,
    SandboxSlotPair,
    ServiceTargets,
    Topology,
    load_topology,
)

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from releases.targets.kubernetes_colours import KubernetesSlots
    from releases.targets.retrying import RetryPolicy


def topology(settings: ReleaseSettings, environment: str, path: Path | None = None) -> Topology:
    settings.environment(environment)  # an unknown name is bad input, whatever else is wrong
    if path is not None:
        described = load_topology(path)
        if described.environment != environment:
            raise BadInput(
                f"topology file {path} describes {described.environment!r}, not --env {environment!r}"
            )
        return described
    if environment == "sandbox":
        return Sandbox(settings.sandbox_dir).topology()
    from releases.stack_topology import read_stack_topology

    return read_stack_topology(settings.project_dir, environment)


def _policy(clouds: CloudSettings) -> RetryPolicy:
    from releases.targets.retrying import RetryPolicy

    return RetryPolicy(clouds.retry_timeout_seconds, clouds.max_retry_after_seconds)


class _Clients:
    """What one service's adapters share: the settings and one Azure credential (so the slots and
    the metrics do not each go looking for one)."""

    def __init__(self, clouds: CloudSettings, state_url: str) -> None:
        self.clouds = clouds
        self.state_url = state_url  # the store that keeps the shared Cloudflare request budget
        self._azure_credential: TokenCredential | None = None

    def azure_credential(self) -> TokenCredential:
        from releases.targets import azure_auth

        if self._azure_credential is None:
            self._azure_credential = azure_auth.credential(self.clouds)
        return self._azure_credential


def connect(settings: ReleaseSettings, topology: Topology, service: str) -> Targets:
    targets = topology.service(service)
    clients = _Clients(settings.clouds, state_url(settings))
    slots = _slots(settings, targets, service, clients)
    secrets = _secrets(targets, clients)
    return Targets(
        router=_router(targets, clients),
        slots=slots,
        metrics=_metrics(targets, slots, clients, _latency_limit(settings, topology.environment)),
        secrets=secrets,
        database=_database(settings, topology.environment, targets, secrets, clients),
    )


def _latency_limit(settings: ReleaseSettings, environment: str) -> float | None:
    policy = settings.environments.get(environment)
    return policy.analysis.max_p95_seconds if policy is not None else None


def _secrets(targets: ServiceTargets, clients: _Clients) -> SecretStore | None:
    store = targets.secrets
    if store is None:
        return None
    if isinstance(store, SandboxSecretStore):
        from releases.sandbox.secrets import SandboxSecrets

        return SandboxSecrets(Path(store.path))
    assert isinstance(store, KeyVaultSecretStore)
    from releases.targets.key_vault import KeyVaultSecrets

    return KeyVaultSecrets(store, clients.azure_credential(), clients.clouds)


def _database(
    settings: ReleaseSettings,
    environment: str,
    targets: ServiceTargets,
    secrets: SecretStore | None,
    clients: _Clients,
) -> Database | None:
    database = targets.database
    if database is None:
        return None
    if isinstance(database, SandboxPostgres):
        from releases.targets.pg_dump_backup import PgDumpBackups

        if secrets is None:
            return None  # the pre-flight refuses a migration without a store holding its URL
        url_secret = settings.environment(environment).migrations.database_url_secret
        return PgDumpBackups(database, secrets, url_secret)
    assert isinstance(database, PostgresFlexibleServer)
    from releases.targets.flexible_server import FlexibleServerBackups

    return FlexibleServerBackups(database, clients.azure_credential(), clients.clouds)


def _router(targets: ServiceTargets, clients: _Clients) -> TrafficRouter:
    router = targets.router
    if isinstance(router, HAProxyRouter):
        from releases.targets.haproxy import HAProxyRouter as HAProxyWeights
        from releases.targets.haproxy import RuntimeAPI

        return HAProxyWeights(RuntimeAPI(router.runtime_api), router.backend)
    assert isinstance(router, CloudflareRouter)
    from releases.state.store import open_store
    from releases.targets.cloudflare_lb import TOKEN_VARIABLE, CloudflareLoadBalancer, client_from_environment
    from releases.targets.retrying import SharedRequestBudget, budget_scope

    clouds = clients.clouds
    client = client_from_environment(clouds.request_timeout_seconds)
    # One budget per token for every process sharing the state store (laptops and CI alike).
    scope = budget_scope("cloudflare", os.environ[TOKEN_VARIABLE])
    budget = SharedRequestBudget(
        open_store(clients.state_url), scope, clouds.cloudflare_requests_per_5_minutes
    )
    return CloudflareLoadBalancer(router, client, _policy(clouds), budget)


def _slots(settings: ReleaseSettings, targets: ServiceTargets, service: str, clients: _Clients) -> SlotPair:
    slots, clouds = targets.slots, clients.clouds
    if isinstance(slots, SandboxSlotPair):
        from releases.targets.sandbox_slots import SandboxSlots

        sandbox = Sandbox(settings.sandbox_dir)
        return SandboxSlots(slots, targets.health, deploy=lambda version: sandbox.deploy(service, version))
    if isinstance(slots, AppServiceSlotPair):
        from azure.mgmt.web import WebSiteManagementClient

        from releases.targets import azure_auth
        from releases.targets.app_service import AppServiceSlots

        credential = clients.azure_credential()
        options = azure_auth.arm_client_options(clouds, polling_interval=5)
        client = WebSiteManagementClient(credential, slots.subscription_id, **options)
        return AppServiceSlots(slots, targets.health, client, credential, azure_auth.arm_scope(clouds),
                               _policy(clouds), clouds.swap_timeout_seconds)  # fmt: skip
    assert isinstance(slots, KubernetesSlotPair)
    from releases.targets.kubernetes_colours import KubernetesSlots, api_client

    return KubernetesSlots(
        slots, api_client(slots, clouds.kubeconfig), _policy(clouds), clouds.request_timeout_seconds
    )


def _metrics(
    targets: ServiceTargets, slots: SlotPair, clients: _Clients, latency_limit: float | None = None
) -> MetricSource:
    """`latency_limit`: the gate's p95 limit, which a source counting bounds itself counts at."""
    metrics = targets.metrics
    if isinstance(metrics, PrometheusMetrics):
        from releases.targets.prometheus import PrometheusSource, pool_name

        # On Kubernetes the figures are labelled by colour; which colour serves a pool is live state.
        # (Told from the topology, so the sandbox never imports the Kubernetes adapter.)
        if isinstance(targets.slots, KubernetesSlotPair):
            return PrometheusSource(metrics, cast("KubernetesSlots", slots).pool_label_value)
        return PrometheusSource(metrics, pool_name)
    assert isinstance(metrics, AzureMonitorMetrics)
    clouds = clients.clouds
    if metrics.log_analytics_workspace_id is not None:
        from azure.monitor.query import LogsQueryClient

        from releases.targets.log_analytics import LogAnalyticsSource

        logs = LogsQueryClient(
            clients.azure_credential(), endpoint=clouds.log_analytics_endpoint, retry_total=3
        )
        return LogAnalyticsSource(metrics, logs, clouds.log_analytics_ingestion_delay_seconds, latency_limit)
    from azure.monitor.querymetrics import MetricsClient

    from releases.targets.azure_monitor import AzureMonitorSource

    endpoint = clouds.azure_metrics_endpoint.replace("{region}", metrics.region)
    client = MetricsClient(endpoint, clients.azure_credential(), retry_total=3)
    return AzureMonitorSource(metrics, client, clouds.azure_metrics_ingestion_delay_seconds)
