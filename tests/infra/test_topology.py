"""The `release_targets` stack output: present in both stacks, and valid against the contract."""

from __future__ import annotations

from infra.offline import Plan
from releases.topology import AppServiceSlotPair, CloudflareRouter, KubernetesSlotPair, Topology


def test_release_targets_validate_against_the_contract(plan: Plan) -> None:
    topology = Topology.model_validate(plan.outputs["release_targets"])
    assert topology.environment == plan.stack
    assert sorted(topology.services) == ["api", "web"]


def test_targets_name_the_resources_the_stack_declares(plan: Plan) -> None:
    topology = Topology.model_validate(plan.outputs["release_targets"])
    web, api = topology.service("web"), topology.service("api")
    assert isinstance(web.router, CloudflareRouter) and isinstance(api.router, CloudflareRouter)
    assert isinstance(web.slots, AppServiceSlotPair) and isinstance(api.slots, KubernetesSlotPair)
    pools = {r.name: r for r in plan.of_type("cloudflare:index/loadBalancerPool:LoadBalancerPool")}
    balancer = plan.one("cloudflare:index/loadBalancer:LoadBalancer", "web-traffic-load-balancer")
    assert web.router.hostname == balancer.inputs["name"]
    assert [web.router.pools.stable, web.router.pools.canary] == balancer.inputs["defaultPools"]
    assert len(pools) == 4
    assert web.slots.app == f"platform-{plan.stack}-web" and web.slots.slot == "staging"
    assert (api.slots.services.active, api.slots.services.preview) == ("api-active", "api-preview")
    assert sorted(api.slots.deployments.values()) == ["api-blue", "api-green"]
    assert api.metrics.kind == "prometheus" and web.metrics.kind == "azure_monitor"
