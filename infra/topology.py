"""The `release_targets` stack output: what a release needs to know about this stack, in the
shape `releases/topology.py` defines (docs/design.md).

The document is validated against that contract when the program runs, so a stack can never
export a topology the release tasks would reject.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from infra.azure.web_app import STAGING_SLOT, WebApp
from infra.cloudflare.load_balancer import WeightedLoadBalancer
from infra.kubernetes.api_workloads import APP_LABEL, COLOUR_LABEL, COLOURS, CONTAINER, NAMESPACE
from releases.topology import Topology

# What the API exports to Prometheus (the gates' queries), labelled by colour.
API_RESPONSES_METRIC = "http_requests_total"
API_LATENCY_HISTOGRAM = "http_request_duration_seconds"


@dataclass(frozen=True)
class WebTargets:
    app: WebApp
    router: WeightedLoadBalancer
    subscription_id: pulumi.Input[str]
    resource_group: pulumi.Input[str]
    region: str
    vault_url: pulumi.Input[str]  # the secrets the release's pre-flight checks
    postgres_server: pulumi.Input[str]  # backed up before a release that migrates
    # Where both slots send their HTTP logs: the gates judge web's errors and p95 from them.
    log_analytics_workspace_id: pulumi.Input[str]


@dataclass(frozen=True)
class ApiTargets:
    router: WeightedLoadBalancer
    cluster_name: pulumi.Input[str]
    region: str
    services: dict[str, pulumi.Input[str]]  # role (active, preview) -> Service name
    prometheus_url: str


def _router(router: WeightedLoadBalancer, account_id: str, zone_id: str) -> dict[str, Any]:
    return {
        "kind": "cloudflare",
        "account_id": account_id,
        "zone_id": zone_id,
        "load_balancer_id": router.load_balancer_id,
        "hostname": router.hostname,
        "pools": router.pool_ids,
        "monitor_id": router.monitor_id,
    }


def release_targets(
    stack: str, web: WebTargets, api: ApiTargets, account_id: str, zone_id: str, health_path: str
) -> pulumi.Output[dict[str, Any]]:
    site = pulumi.Output.format(
        "/subscriptions/{0}/resourceGroups/{1}/providers/Microsoft.Web/sites/{2}",
        web.subscription_id,
        web.resource_group,
        web.app.app_name,
    )
    health = {"health": health_path, "live": "/health/live", "ready": "/health/ready"}
    api_selector = {"namespace": NAMESPACE, APP_LABEL: "api"}
    document = {
        "environment": stack,
        "services": {
            "web": {
                "router": _router(web.router, account_id, zone_id),
                "slots": {
                    "kind": "app_service",
                    "subscription_id": web.subscription_id,
                    "resource_group": web.resource_group,
                    "app": web.app.app_name,
                    "slot": STAGING_SLOT,
                    "production_url": pulumi.Output.concat("https://", web.app.production_hostname),
                    "staging_url": pulumi.Output.concat("https://", web.app.staging_hostname),
                },
                "metrics": {
                    "kind": "azure_monitor",
                    "region": web.region,
                    "production_resource_id": site,
                    "staging_resource_id": pulumi.Output.concat(site, "/slots/", STAGING_SLOT),
                    "log_analytics_workspace_id": web.log_analytics_workspace_id,
                },
                "health": health,
                "secrets": {"kind": "key_vault", "vault_url": web.vault_url},
                "database": {
                    "kind": "postgres_flexible",
                    "subscription_id": web.subscription_id,
                    "resource_group": web.resource_group,
                    "server": web.postgres_server,
                },
            },
            "api": {
                "router": _router(api.router, account_id, zone_id),
                "slots": {
                    "kind": "kubernetes",
                    "cluster_name": api.cluster_name,
                    "region": api.region,
                    "namespace": NAMESPACE,
                    "services": api.services,
                    "deployments": {colour: f"api-{colour}" for colour in COLOURS},
                    "container": CONTAINER,
                    "colour_label": COLOUR_LABEL,
                },
                "metrics": {
                    "kind": "prometheus",
                    "url": api.prometheus_url,
                    "responses_metric": API_RESPONSES_METRIC,
                    "responses_labels": api_selector,
                    "responses_pool_label": COLOUR_LABEL,
                    "error_label": "status",
                    "error_pattern": "5..",
                    "latency_histogram": API_LATENCY_HISTOGRAM,
                    "latency_labels": api_selector,
                    "latency_pool_label": COLOUR_LABEL,
                },
                "health": health,
            },
        },
    }
    return pulumi.Output.from_input(document).apply(
        lambda resolved: Topology.model_validate(resolved).model_dump(mode="json")
    )
