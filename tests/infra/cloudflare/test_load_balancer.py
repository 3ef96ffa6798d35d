"""The Cloudflare load balancers, per stack and per released service."""

from __future__ import annotations

import pytest

from infra.offline import Plan

SERVICES = ("web", "api")
BALANCER = "cloudflare:index/loadBalancer:LoadBalancer"
POOL = "cloudflare:index/loadBalancerPool:LoadBalancerPool"


def hostname(plan: Plan, service: str) -> str:
    return plan.one(BALANCER, f"{service}-traffic-load-balancer").inputs["name"]


@pytest.mark.parametrize("service", SERVICES)
def test_weights_start_all_stable_and_are_ignored_by_updates(plan: Plan, service: str) -> None:
    balancer = plan.one(BALANCER, f"{service}-traffic-load-balancer")
    stable = plan.one(POOL, f"{service}-traffic-stable")
    canary = plan.one(POOL, f"{service}-traffic-canary")
    assert balancer.ignore_changes == ["randomSteering"]
    weights = balancer.inputs["randomSteering"]["poolWeights"]
    # Pool ids are what the offline plan stands in for Cloudflare's: the pools' resource ids.
    assert len(weights) == 2 and sorted(weights.values()) == [0.0, 1.0]
    assert balancer.inputs["fallbackPool"] == balancer.inputs["defaultPools"][0]
    assert {stable.name, canary.name} == {f"{service}-traffic-stable", f"{service}-traffic-canary"}


@pytest.mark.parametrize("service", SERVICES)
def test_proxied_random_steering_with_configured_affinity(plan: Plan, service: str) -> None:
    inputs = plan.one(BALANCER, f"{service}-traffic-load-balancer").inputs
    assert inputs["proxied"] is True and inputs["steeringPolicy"] == "random"
    assert inputs["sessionAffinity"] == "none"


@pytest.mark.parametrize("service", SERVICES)
def test_monitor_checks_https_health_expecting_200_with_the_host(plan: Plan, service: str) -> None:
    monitor = plan.one(
        "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor", f"{service}-traffic-monitor"
    )
    assert monitor.inputs["type"] == "https" and monitor.inputs["path"] == "/health"
    assert monitor.inputs["expectedCodes"] == "200" and monitor.inputs["allowInsecure"] is False
    # Health checks skip the zone's transform rules, so the monitor sends the origin credential.
    assert monitor.inputs["header"] == {"Host": [hostname(plan, service)], "X-Azure-FDID": ["[secret]"]}


def test_every_pool_has_the_monitor_and_one_origin_with_the_host_it_answers_to(plan: Plan) -> None:
    pools = plan.of_type(POOL)
    assert len(pools) == 4
    for pool in pools:
        assert pool.inputs["monitor"]
        (origin,) = pool.inputs["origins"]
        # A slot answers to its own hostname; the NLBs' certificate is for the API's hostname.
        expected = origin["address"] if pool.name.startswith("web-") else hostname(plan, "api")
        assert origin["header"]["hosts"] == [expected]


def test_web_pools_point_at_the_slots_and_api_pools_at_the_services(plan: Plan) -> None:
    def address(name: str) -> str:
        return plan.one(POOL, name).inputs["origins"][0]["address"]

    assert address("web-traffic-stable") == f"platform-{plan.stack}-web.azurewebsites.net"
    assert address("web-traffic-canary") == f"platform-{plan.stack}-web-staging.azurewebsites.net"
    assert address("api-traffic-stable").startswith("api-active-")
    assert address("api-traffic-canary").startswith("api-preview-")


def test_a_zone_rule_adds_the_origin_credential_for_every_released_hostname(plan: Plan) -> None:
    ruleset = plan.one("cloudflare:index/ruleset:Ruleset")
    assert (ruleset.inputs["kind"], ruleset.inputs["phase"]) == ("zone", "http_request_late_transform")
    (rule,) = ruleset.inputs["rules"]
    assert rule["action"] == "rewrite" and rule["enabled"] is True
    assert rule["actionParameters"]["headers"] == {"X-Azure-FDID": {"operation": "set", "value": "[secret]"}}
    for service in ("web", "api"):
        assert f'"{hostname(plan, service)}"' in rule["expression"]
