"""The `release_targets` stack output: present in both stacks, and valid against the contract."""

from __future__ import annotations

from infra.offline import Plan
from releases.topology import (
    AppServiceSlotPairSpec,
    AzureMonitorMetricsSpec,
    CloudflareRouterSpec,
    KeyVaultSecretStoreSpec,
    KubernetesSlotPairSpec,
    PostgresFlexibleServerSpec,
    Topology,
)


def test_release_targets_validate_against_the_contract(plan: Plan) -> None:
    topology = Topology.model_validate(plan.outputs["release_targets"])
    assert topology.environment == plan.stack
    assert sorted(topology.services) == ["api", "web"]


def test_targets_name_the_resources_the_stack_declares(plan: Plan) -> None:
    topology = Topology.model_validate(plan.outputs["release_targets"])
    web, api = topology.service("web"), topology.service("api")
    assert isinstance(web.router, CloudflareRouterSpec) and isinstance(api.router, CloudflareRouterSpec)
    assert isinstance(web.slots, AppServiceSlotPairSpec) and isinstance(api.slots, KubernetesSlotPairSpec)
    pools = {r.name: r for r in plan.of_type("cloudflare:index/loadBalancerPool:LoadBalancerPool")}
    balancer = plan.one("cloudflare:index/loadBalancer:LoadBalancer", "web-traffic-load-balancer")
    assert web.router.hostname == balancer.inputs["name"]
    assert [web.router.pools.stable, web.router.pools.canary] == balancer.inputs["defaultPools"]
    assert len(pools) == 4
    assert web.slots.app == f"platform-{plan.stack}-web" and web.slots.slot == "staging"
    assert (api.slots.services.active, api.slots.services.preview) == ("api-active", "api-preview")
    assert sorted(api.slots.deployments.values()) == ["api-blue", "api-green"]
    assert api.metrics.kind == "prometheus" and web.metrics.kind == "azure_monitor"


def test_the_web_service_names_its_vault_and_database(plan: Plan) -> None:
    """What the release's pre-flight and backups use: the stack's own Key Vault and Flexible Server."""
    web = Topology.model_validate(plan.outputs["release_targets"]).service("web")
    assert isinstance(web.secrets, KeyVaultSecretStoreSpec)
    assert isinstance(web.database, PostgresFlexibleServerSpec)
    assert web.secrets.vault_url == plan.outputs["keyVaultUri"]
    server = plan.one("azure-native:dbforpostgresql:Server", "postgres-server")
    assert web.database.server == server.inputs["serverName"]


def test_the_release_checks_the_secrets_the_web_app_references() -> None:
    """`tasks.py` lists, per cloud environment, the secrets the pre-flight requires; they are the
    app settings the program makes Key Vault references (both take `contract`'s one list)."""
    import tasks
    from contract import SECRET_APP_SETTINGS

    for environment in ("staging", "production"):
        required = tasks.DEFAULTS["releases"][environment]["required_secrets"]["web"]
        assert sorted(required) == sorted(SECRET_APP_SETTINGS)


def test_the_web_service_names_the_workspace_its_slots_log_to(plan: Plan) -> None:
    """The gates judge web's p95 from the slots' HTTP logs: the stack exports the workspace that
    both slots' diagnostic settings send them to, by the id the query API takes."""
    metrics = Topology.model_validate(plan.outputs["release_targets"]).service("web").metrics
    assert isinstance(metrics, AzureMonitorMetricsSpec)
    assert metrics.log_analytics_workspace_id is not None  # a GUID, as the contract checks
    workspace = plan.one("azure-native:operationalinsights:Workspace")
    logs = {setting.name: setting for setting in plan.of_type("azure-native:monitor:DiagnosticSetting")}
    for slot in ("web-app-diagnostics", "web-staging-diagnostics"):
        assert logs[slot].inputs["workspaceId"] == f"/offline/{workspace.type}/{workspace.name}"
        assert logs[slot].inputs["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]
