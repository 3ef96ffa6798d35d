"""Cloudflare load balancing: health-checked pools, a fallback, weights a release can trust."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from policies.rule import Context, Level, Reference, Resource, ResourceRule, Rule, StackRule
from policies.values import MISSING, expect_reference, items, requires, shown, value_at

POOL = "cloudflare:index/loadBalancerPool:LoadBalancerPool"
LOAD_BALANCER = "cloudflare:index/loadBalancer:LoadBalancer"
MONITOR = "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor"
RULESET = "cloudflare:index/ruleset:Ruleset"
# The origin credential's header (infra/cloudflare/origin_credential.py, docs/security.md).
ORIGIN_HEADER = "X-Azure-FDID"

# Cloudflare's load-balancing documentation: without a monitor a pool is always "healthy", so
# neither failover nor the release engine's canary health check can see an origin fail.
DOCS = Reference("Cloudflare", "Load Balancing docs")


def _pool_monitored(pool: Resource, _: Context) -> Iterator[str]:
    yield from expect_reference(
        pool.props, "monitor", "a health monitor's id (unmonitored pools are always healthy)"
    )


def _fallback_pool(balancer: Resource, _: Context) -> Iterator[str]:
    yield from expect_reference(
        balancer.props, "fallbackPool", "the id of the pool that serves when all are unhealthy"
    )


def _in_range(weight: object) -> bool:
    return isinstance(weight, int | float) and not isinstance(weight, bool) and 0 <= weight <= 1


def _weights_in_range(balancer: Resource, _: Context) -> Iterator[str]:
    weights = value_at(balancer.props, "randomSteering.poolWeights")
    if weights is MISSING or not isinstance(weights, Mapping):
        yield "randomSteering.poolWeights is not set; expected a weight from 0 to 1 for each pool"
        return
    for pool in list(weights):
        if not _in_range(weights[pool]):
            yield f"randomSteering.poolWeights[{pool}] is {shown(weights[pool])}; expected 0 to 1"
    default = value_at(balancer.props, "randomSteering.defaultWeight")
    if default is not MISSING and not _in_range(default):
        yield f"randomSteering.defaultWeight is {shown(default)}; expected 0 to 1"
    if weights and all(_in_range(weights[pool]) and weights[pool] == 0 for pool in list(weights)):
        yield "randomSteering.poolWeights are all 0; expected one pool to carry traffic"


def _sets_credential(rule: Mapping[str, object]) -> bool:
    header = value_at(rule, f"actionParameters.headers.{ORIGIN_HEADER}")
    return (
        value_at(rule, "action") == "rewrite"
        and value_at(rule, "enabled") is not False
        and isinstance(header, Mapping)
        and value_at(header, "operation") == "set"
        and isinstance(value_at(header, "value"), str)
        and bool(value_at(header, "value"))
    )


def _credential_added(resources: Sequence[Resource], _: Context) -> Iterator[tuple[Resource, str]]:
    transforms = [
        r
        for r in resources
        if r.type == RULESET
        and value_at(r.props, "phase") == "http_request_late_transform"
        and value_at(r.props, "kind") == "zone"
    ]
    for balancer in (r for r in resources if r.type == LOAD_BALANCER):
        zone, hostname = value_at(balancer.props, "zoneId"), value_at(balancer.props, "name")
        covering = [
            rule
            for ruleset in transforms
            if value_at(ruleset.props, "zoneId") == zone
            for rule in items(ruleset.props, "rules")
            if isinstance(rule, Mapping) and f'"{hostname}"' in str(value_at(rule, "expression"))
        ]
        if not any(_sets_credential(rule) for rule in covering):
            yield (
                balancer,
                (
                    f"no enabled transform rule of zone {shown(zone)} sets {ORIGIN_HEADER} for "
                    f"{shown(hostname)}; expected the origin credential added to every request"
                ),
            )


RULES: tuple[Rule, ...] = (
    ResourceRule(
        "cloudflare-pool-monitored",
        "Every Cloudflare pool has a health monitor",
        Level.MANDATORY,
        DOCS,
        (POOL,),
        check=_pool_monitored,
    ),
    ResourceRule(
        "cloudflare-fallback-pool",
        "Every Cloudflare load balancer has a fallback pool",
        Level.MANDATORY,
        DOCS,
        (LOAD_BALANCER,),
        check=_fallback_pool,
    ),
    ResourceRule(
        "cloudflare-weights-in-range",
        "Cloudflare random-steering weights are each within [0, 1], and some pool carries traffic",
        Level.MANDATORY,
        DOCS,
        (LOAD_BALANCER,),
        check=_weights_in_range,
    ),
    ResourceRule(
        "cloudflare-monitor-https",
        "Cloudflare health monitors check over HTTPS with certificate validation",
        Level.ADVISORY,
        DOCS,
        (MONITOR,),
        check=requires(
            ("type", ["https"], '"https"'),
            ("allowInsecure", [False], "false (the origin's certificate is checked)"),
        ),
    ),
    StackRule(
        "cloudflare-origin-credential",
        "Every load-balanced hostname gets the origin credential from a zone transform rule, so origins "
        "can refuse traffic that did not come through this zone",
        Level.MANDATORY,
        Reference("Cloudflare", "Transform Rules; origin protection"),
        (LOAD_BALANCER, RULESET),
        check=lambda resources, context: _credential_added(resources, context),
    ),
)
