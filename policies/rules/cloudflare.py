"""Cloudflare load balancing: health-checked pools, a fallback, weights a release can trust."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from policies.rule import Context, Level, Reference, Resource, ResourceRule, Rule
from policies.values import MISSING, expect_reference, requires, shown, value_at

POOL = "cloudflare:index/loadBalancerPool:LoadBalancerPool"
LOAD_BALANCER = "cloudflare:index/loadBalancer:LoadBalancer"
MONITOR = "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor"

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
)
