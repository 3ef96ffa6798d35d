"""A released service's traffic router on Cloudflare: an HTTPS health monitor, the `stable` and
`canary` pools, and a proxied load balancer on the public hostname with `random` steering.

Pulumi creates the weights (stable 1.0, canary 0.0) and then leaves them to releases:
`randomSteering` is in `ignore_changes`, so `pulumi up` never resets a release in progress
(docs/design.md). `stable` is also the fallback pool: when every pool is unhealthy, traffic
goes where the released version has been serving.

Host headers. Each origin carries its own Host override, because an App Service slot answers only
to its own hostname and an NLB's certificate is for the API's hostname. Cloudflare applies an
origin's Host override to health checks too; the monitor's Host header (the public hostname)
is what is sent where an origin has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_cloudflare as cloudflare

from infra.cloudflare.origin_credential import ORIGIN_HEADER
from releases.model import Pool

RELEASE_OWNED_PROPERTIES = ["randomSteering"]


@dataclass(frozen=True)
class Origin:
    """Where a pool sends traffic: an address and the Host header it must receive."""

    address: pulumi.Input[str]
    host: pulumi.Input[str]


@dataclass(frozen=True)
class LoadBalancerArgs:
    account_id: str
    zone_id: str
    hostname: str
    health_path: str
    stable: Origin
    canary: Origin
    session_affinity: Literal["none", "cookie", "ip_cookie", "header"]
    # Health checks skip the zone's transform rules: the monitor sends the origin credential itself.
    origin_credential: pulumi.Input[str]


class WeightedLoadBalancer(pulumi.ComponentResource):
    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:cloudflare:WeightedLoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        monitor = cloudflare.LoadBalancerMonitor(
            f"{name}-monitor",
            account_id=args.account_id,
            description=f"{args.hostname} {args.health_path}",
            type="https",
            method="GET",
            path=args.health_path,
            port=443,
            expected_codes="200",
            header={"Host": [args.hostname], ORIGIN_HEADER: [args.origin_credential]},
            allow_insecure=False,
            follow_redirects=False,
            interval=60,
            timeout=5,
            retries=2,
            consecutive_down=2,
            consecutive_up=2,
            opts=child,
        )
        pools = {
            pool: cloudflare.LoadBalancerPool(
                f"{name}-{pool.value}",
                account_id=args.account_id,
                name=f"{args.hostname.replace('.', '-')}-{pool.value}",
                monitor=monitor.id,
                minimum_origins=1,
                origins=[
                    cloudflare.LoadBalancerPoolOriginArgs(
                        name=f"{pool.value}-origin",
                        address=origin.address,
                        enabled=True,
                        weight=1.0,
                        header=cloudflare.LoadBalancerPoolOriginHeaderArgs(hosts=[origin.host]),
                    )
                ],
                opts=child,
            )
            for pool, origin in ((Pool.STABLE, args.stable), (Pool.CANARY, args.canary))
        }
        stable, canary = pools[Pool.STABLE].id, pools[Pool.CANARY].id
        balancer = cloudflare.LoadBalancer(
            f"{name}-load-balancer",
            zone_id=args.zone_id,
            name=args.hostname,
            proxied=True,
            steering_policy="random",
            default_pools=[stable, canary],
            fallback_pool=stable,
            random_steering=cloudflare.LoadBalancerRandomSteeringArgs(
                pool_weights=pulumi.Output.all(stable, canary).apply(lambda ids: {ids[0]: 1.0, ids[1]: 0.0}),
                default_weight=0.0,
            ),
            session_affinity=args.session_affinity,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=RELEASE_OWNED_PROPERTIES),
        )
        self.monitor_id = monitor.id
        self.pool_ids = {pool.value: resource.id for pool, resource in pools.items()}
        self.load_balancer_id = balancer.id
        self.hostname = args.hostname
        self.register_outputs({"loadBalancerId": balancer.id})
