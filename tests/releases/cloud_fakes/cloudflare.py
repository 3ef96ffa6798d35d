"""Cloudflare's load balancer, pool and pool-health endpoints (API v4), with one load balancer
over a stable and a canary pool, the way the Pulumi program declares them."""

from __future__ import annotations

import copy
import re
from typing import Any

from werkzeug import Request

from tests.releases.cloud_fakes.http import FakeAPI, Reply, json_body

TOKEN = "cf-test-token-8d2f0b7e41"  # a secret: must never appear in output or the journal


def envelope(result: Any) -> dict[str, Any]:
    return {"success": True, "errors": [], "messages": [], "result": result}


def failure(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


class FakeCloudflare(FakeAPI):
    def __init__(self, account_id: str, zone_id: str) -> None:
        super().__init__()
        self.account_id, self.zone_id = account_id, zone_id
        self.load_balancers: dict[str, dict[str, Any]] = {}
        self.pools: dict[str, dict[str, Any]] = {}
        base = "/client/v4"
        self.route("GET", rf"{base}/zones/{zone_id}/load_balancers/(?P<id>\w+)", self._get_balancer)
        self.route("PATCH", rf"{base}/zones/{zone_id}/load_balancers/(?P<id>\w+)", self._patch_balancer)
        self.route("GET", rf"{base}/accounts/{account_id}/load_balancers/pools/(?P<id>\w+)", self._get_pool)
        self.route(
            "GET", rf"{base}/accounts/{account_id}/load_balancers/pools/(?P<id>\w+)/health", self._health
        )

    def add_balancer(self, balancer: str, hostname: str, stable: str, canary: str) -> None:
        """A load balancer as the Pulumi program declares it: random steering, all on stable."""
        self.load_balancers[balancer] = {
            "id": balancer,
            "name": hostname,
            "steering_policy": "random",
            "default_pools": [stable, canary],
            "fallback_pool": stable,
            "random_steering": {"default_weight": 0.0, "pool_weights": {stable: 1.0, canary: 0.0}},
        }
        for pool, name in ((stable, "stable"), (canary, "canary")):
            self.pools[pool] = {
                "id": pool,
                "name": name,
                "enabled": True,
                "monitor": "monitor",
                "healthy": True,
            }

    @property
    def base_url(self) -> str:
        return f"{self.url}/client/v4"

    def weights(self, balancer: str) -> dict[str, float]:
        return dict(self.load_balancers[balancer]["random_steering"]["pool_weights"])

    def writes(self, balancer: str) -> int:
        return self.count("PATCH", rf"/client/v4/zones/\w+/load_balancers/{balancer}")

    def _authorised(self, request: Request) -> Reply | None:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 403, failure(10000, "Authentication error")
        return None

    def _get_balancer(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        balancer = self.load_balancers.get(match["id"])
        if balancer is None:
            return 404, failure(1002, "Load balancer not found")
        return 200, envelope(copy.deepcopy(balancer))

    def _patch_balancer(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        balancer = self.load_balancers.get(match["id"])
        if balancer is None:
            return 404, failure(1002, "Load balancer not found")
        body = json_body(request)
        weights = body.get("random_steering", {}).get("pool_weights", {})
        if any(not 0 <= w <= 1 for w in weights.values()) or set(weights) - set(balancer["default_pools"]):
            return 400, failure(1004, "invalid random_steering")
        balancer.update(body)  # PATCH replaces each given top-level field whole
        return 200, envelope(copy.deepcopy(balancer))

    def _get_pool(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        pool = self.pools.get(match["id"])
        if pool is None:
            return 404, failure(1003, "Pool not found")
        return 200, envelope({key: value for key, value in pool.items() if key != "healthy"})

    def _health(self, request: Request, match: re.Match[str]) -> Reply:
        if denied := self._authorised(request):
            return denied
        pool = self.pools[match["id"]]
        regions = {
            region: {"healthy": pool["healthy"], "origins": [{"192.0.2.10": {"healthy": pool["healthy"]}}]}
            for region in ("Amsterdam, NL", "Frankfurt, DE")
        }
        return 200, envelope({"pool_id": pool["id"], "pop_health": regions})
