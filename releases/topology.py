"""The topology contract: what a release needs to know about an environment (docs/design.md).

One document per environment: per released service, the traffic router, the slot pair, the
health paths and the metric source. The sandbox writes it when it starts; the Pulumi program
exports the same shape as the stack output `release_targets` (`infra/topology.py`). Routers, slot
pairs and metric sources are unions told apart by `kind`: HAProxy or Cloudflare; local slot
processes, App Service slots or Kubernetes colours; Prometheus, or Azure Monitor with or without
the Log Analytics workspace holding App Service's HTTP logs. Everything here
is validated on load, so an adapter never sees a half-formed target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from releases.errors import BadInput

# Names used inside PromQL selectors and HAProxy commands: no quotes, spaces or separators.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
HostPort = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")]
# HAProxy's runtime API: an absolute path to its unix socket (a sockaddr_un holds 107 bytes).
UnixSocket = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._/+-]{1,106}$")]
ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
CloudflareId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
Hostname = Annotated[str, StringConstraints(pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")]
AzureResourceId = Annotated[
    str, StringConstraints(pattern=r"^/subscriptions/[0-9a-f-]{36}/resourceGroups/[^/]+/providers/.+$")
]
# Where a slot answers its health checks: scheme, host, optional port and a base path.
SlotUrl = Annotated[
    str, StringConstraints(pattern=r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/-]*)?$")
]
WorkspaceId = Annotated[
    str, StringConstraints(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
AzureRegion = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]{1,40}$")]
AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]$")]


def _http_url(value: str) -> str:
    """An http(s) URL with a host. The message never quotes the value: it may hold a password."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is not a number raises only when read
    except ValueError:
        raise ValueError("expected an http(s) URL such as https://prometheus.example.com") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise ValueError("expected an http(s) URL such as https://prometheus.example.com")
    return value


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HealthPaths(_Contract):
    health: str = "/health"
    live: str = "/health/live"
    ready: str = "/health/ready"


class HAProxyRouterSpec(_Contract):
    """HAProxy as the weighted router: one backend, one server per pool, weights set at runtime."""

    kind: Literal["haproxy"] = "haproxy"
    runtime_api: UnixSocket
    backend: Identifier
    public_url: str = Field(description="where users reach the service through the router")


class CloudflarePoolsSpec(_Contract):
    stable: Identifier
    canary: Identifier


class CloudflareRouterSpec(_Contract):
    """A Cloudflare load balancer with `random` steering over the two pools; its
    `random_steering.pool_weights` are the weights, written whole in one request."""

    kind: Literal["cloudflare"] = "cloudflare"
    account_id: CloudflareId
    zone_id: CloudflareId
    load_balancer_id: Identifier
    hostname: Hostname
    pools: CloudflarePoolsSpec
    monitor_id: Identifier


class SandboxSlotSpec(_Contract):
    address: HostPort


class SandboxSlotPairSpec(_Contract):
    """Two local slot processes. Which one is production is whatever HAProxy's `stable` server
    points at, so a swap exchanges the two servers' addresses and restarts nothing."""

    kind: Literal["sandbox"] = "sandbox"
    runtime_api: UnixSocket
    backend: Identifier
    slots: dict[Identifier, SandboxSlotSpec] = Field(min_length=2, max_length=2)


class AppServiceSlotPairSpec(_Contract):
    """A web app's production slot and its staging slot; a swap exchanges what they run."""

    kind: Literal["app_service"] = "app_service"
    subscription_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{36}$")]
    resource_group: Identifier
    app: Identifier
    slot: Identifier = "staging"
    # Each slot's own address (`https://<default host name>`), where its health paths answer.
    production_url: SlotUrl
    staging_url: SlotUrl


class KubernetesServicesSpec(_Contract):
    active: Identifier
    preview: Identifier


class KubernetesSlotPairSpec(_Contract):
    """Two Deployments (one per colour) behind an `active` and a `preview` Service. Which colour
    is production is whatever `active` selects (by `colour_label`); promotion flips both selectors."""

    kind: Literal["kubernetes"] = "kubernetes"
    cluster_name: Identifier
    region: AwsRegion
    namespace: Identifier
    services: KubernetesServicesSpec
    deployments: dict[Identifier, Identifier] = Field(min_length=2, max_length=2)
    container: Identifier
    colour_label: Identifier


class AzureMonitorMetricsSpec(_Contract):
    """App Service's per-slot figures: stable traffic is served by the production slot and canary
    traffic by the staging slot. With `log_analytics_workspace_id`, the gates judge the slots'
    HTTP logs in that workspace (per request: errors and the p95); without it, Azure Monitor's
    platform metrics (Requests, Http5xx), which carry no percentile."""

    kind: Literal["azure_monitor"] = "azure_monitor"
    region: AzureRegion  # the metrics API is regional: the app's region
    production_resource_id: AzureResourceId
    staging_resource_id: AzureResourceId
    # The workspace's id (its `customerId`, a GUID), as the Log Analytics query API names it.
    log_analytics_workspace_id: WorkspaceId | None = None


class PrometheusMetricsSpec(_Contract):
    """Per-pool request, error and latency figures from the Prometheus HTTP API. In the sandbox
    the pool labels hold pool names (HAProxy's servers); on Kubernetes they hold colours, which
    the slot pair's Services map to pools."""

    kind: Literal["prometheus"] = "prometheus"
    # May carry credentials (`https://user:password@host`): shown only through redact_url.
    url: Annotated[str, AfterValidator(_http_url)]
    responses_metric: Identifier = "haproxy_server_http_responses_total"
    responses_labels: dict[Identifier, Identifier]
    responses_pool_label: Identifier = "server"
    # Which responses are errors: HAProxy counts by class (code="5xx"), apps by status (status=~"5..").
    error_label: Identifier = "code"
    error_pattern: Annotated[str, StringConstraints(pattern=r"^[0-9x.|]{1,16}$")] = "5xx"
    latency_histogram: Identifier
    latency_labels: dict[Identifier, Identifier]
    latency_pool_label: Identifier = "pool"
    # The router's own responses, counted whichever pool served them (HAProxy's frontend): those
    # 5xx that no pool's counter has are the router's own (503, no server up), counted against the
    # judged pool. None where the figures come from the app alone (Kubernetes).
    router_errors_metric: Identifier | None = None
    router_errors_labels: dict[Identifier, Identifier] = {}


class SandboxSecretStoreSpec(_Contract):
    """The sandbox's own secret store: one JSON file, mode 0600."""

    kind: Literal["sandbox"] = "sandbox"
    path: str


class KeyVaultSecretStoreSpec(_Contract):
    """An Azure Key Vault; app setting names map to secret names (DATABASE_URL -> database-url)."""

    kind: Literal["key_vault"] = "key_vault"
    vault_url: Annotated[str, StringConstraints(pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?$")]


class SandboxPostgresSpec(_Contract):
    """The sandbox's Postgres: backups are `pg_dump` files, verified by a restore."""

    kind: Literal["sandbox_postgres"] = "sandbox_postgres"
    backups_dir: str
    bin_dir: str  # the server's own client programs (pg_dump must not be older than the server)


class PostgresFlexibleServerSpec(_Contract):
    """An Azure Database for PostgreSQL Flexible Server: on-demand backups through ARM."""

    kind: Literal["postgres_flexible"] = "postgres_flexible"
    subscription_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f-]{36}$")]
    resource_group: Identifier
    server: Identifier


class ServiceTargets(_Contract):
    router: Annotated[HAProxyRouterSpec | CloudflareRouterSpec, Field(discriminator="kind")]
    slots: Annotated[
        SandboxSlotPairSpec | AppServiceSlotPairSpec | KubernetesSlotPairSpec, Field(discriminator="kind")
    ]
    metrics: Annotated[PrometheusMetricsSpec | AzureMonitorMetricsSpec, Field(discriminator="kind")]
    health: HealthPaths = HealthPaths()
    # Where the service's secrets live, and the database its migrations change (both optional: a
    # service without them cannot require secrets or carry migrations).
    secrets: (
        Annotated[SandboxSecretStoreSpec | KeyVaultSecretStoreSpec, Field(discriminator="kind")] | None
    ) = None
    database: (
        Annotated[SandboxPostgresSpec | PostgresFlexibleServerSpec, Field(discriminator="kind")] | None
    ) = None


class Topology(_Contract):
    environment: Identifier
    services: dict[ServiceName, ServiceTargets] = Field(min_length=1)

    def service(self, name: str) -> ServiceTargets:
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services))
            raise BadInput(
                f"unknown --service {name!r} in {self.environment}; expected one of: {known}"
            ) from None


def load_topology(path: Path) -> Topology:
    """Read and validate a topology document, naming the file and every problem on failure."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"topology file {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise BadInput(f"topology file {path} is not readable JSON: {error}") from None
    return parse_topology(document, f"topology file {path}")


def parse_topology(document: object, source: str) -> Topology:
    """Validate a topology document from `source` (a file, a stack output), naming every problem."""
    try:
        return Topology.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(document)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise BadInput(f"{source} does not match the topology contract: {problems}") from None
