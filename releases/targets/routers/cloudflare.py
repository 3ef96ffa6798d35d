"""A Cloudflare load balancer as the traffic router (official `cloudflare` SDK).

The weights are the load balancer's `random_steering`: the pool weights and the default weight,
always written whole in one PATCH and read back. Before weight is shifted to the canary pool,
Cloudflare's own monitor must report that pool healthy. The SDK's retries are off: 429s, 5xx and
timeouts go through `retrying`, and every request counts against a budget well under Cloudflare's
1,200 requests per 5 minutes. The token comes from `CLOUDFLARE_API_TOKEN` and the endpoint from
the SDK's own `CLOUDFLARE_BASE_URL`; neither is ever printed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import cloudflare

from releases.errors import Refused, TargetUnavailable, VerificationFailed
from releases.model import Pool, Weights
from releases.targets.clients import retrying
from releases.targets.clients.retrying import RequestBudget, RetryDecision, RetryPolicy
from releases.topology import CloudflareRouterSpec

T = TypeVar("T")

TOKEN_VARIABLE = "CLOUDFLARE_API_TOKEN"


def client_from_environment(timeout_seconds: float) -> cloudflare.Cloudflare:
    """The SDK client, with the token from the environment and the SDK's own retries off."""
    if not os.environ.get(TOKEN_VARIABLE):
        raise Refused(
            f"{TOKEN_VARIABLE} is not set: the Cloudflare router needs an API token with "
            "Load Balancers read and edit permission on the zone and account; nothing was changed"
        )
    return cloudflare.Cloudflare(max_retries=0, timeout=timeout_seconds)


def _errors(error: cloudflare.APIStatusError) -> str:
    """Cloudflare's own error messages from the response envelope (never the request)."""
    body = error.body if isinstance(error.body, dict) else {}
    messages = [
        f"{item.get('code')}: {item.get('message')}"
        for item in body.get("errors") or []
        if isinstance(item, dict)
    ]
    return "; ".join(messages) or error.response.reason_phrase


class CloudflareLoadBalancer:
    def __init__(
        self,
        target: CloudflareRouterSpec,
        client: cloudflare.Cloudflare,
        policy: RetryPolicy,
        budget: RequestBudget,
    ) -> None:
        self.target = target
        self.client = client
        self.policy = policy
        self.budget = budget
        self._pool_ids = {Pool.STABLE: target.pools.stable, Pool.CANARY: target.pools.canary}

    # -- calls -----------------------------------------------------------------------------------

    def _classify(self, error: Exception) -> RetryDecision:
        if isinstance(error, cloudflare.RateLimitError):
            after = retrying.retry_after_seconds(error.response.headers)
            return retrying.rate_limited(after, self.policy, f"Cloudflare API at {self.client.base_url}")
        return isinstance(error, cloudflare.InternalServerError | cloudflare.APIConnectionError)

    def _call(self, what: str, operation: Callable[[], T]) -> T:
        where = f"Cloudflare API at {self.client.base_url}"
        try:
            return retrying.call(
                operation, self._classify, self.policy, before_attempt=lambda: self.budget.spend(where)
            )
        except (cloudflare.AuthenticationError, cloudflare.PermissionDeniedError) as error:
            raise TargetUnavailable(
                f"{where} rejected the API token while trying to {what} ({error.status_code}: "
                f"{_errors(error)}); check {TOKEN_VARIABLE} and its permissions"
            ) from None
        except cloudflare.NotFoundError as error:
            raise TargetUnavailable(
                f"{where} could not {what}: not found ({_errors(error)}); is the topology for this account?"
            ) from None
        except cloudflare.RateLimitError as error:
            raise TargetUnavailable(
                f"{where} kept rate-limiting (429) while trying to {what}; gave up after "
                f"{self.policy.timeout_seconds:g} s ({_errors(error)})"
            ) from None
        except cloudflare.APIStatusError as error:
            raise TargetUnavailable(
                f"{where} failed to {what}: {error.status_code} ({_errors(error)})"
            ) from None
        except cloudflare.APIConnectionError as error:
            raise TargetUnavailable(
                f"cannot reach the {where} to {what}: {type(error).__name__} ({error.__cause__ or error})"
            ) from None

    # -- TrafficRouter ---------------------------------------------------------------------------

    def read_weights(self) -> Weights:
        balancer = self._call(
            f"read load balancer {self.target.load_balancer_id}",
            lambda: self.client.load_balancers.get(self.target.load_balancer_id, zone_id=self.target.zone_id),
        )
        if balancer.steering_policy != "random":
            raise VerificationFailed(
                f"load balancer {self.target.hostname} steers by {balancer.steering_policy!r}, not 'random': "
                "its pool weights would not decide where traffic goes"
            )
        steering = balancer.random_steering
        pool_weights: dict[str, float] = dict(steering.pool_weights or {}) if steering else {}
        default = steering.default_weight if steering and steering.default_weight is not None else 1.0
        try:
            return Weights(
                stable=float(pool_weights.get(self.target.pools.stable, default)),
                canary=float(pool_weights.get(self.target.pools.canary, default)),
            )
        except ValueError as error:
            raise VerificationFailed(
                f"load balancer {self.target.hostname} has pool weights that are not valid: {error}"
            ) from None

    def steering(self, weights: Weights) -> dict[str, Any]:
        """The complete `random_steering` object for these weights. The default weight is 0: a pool
        nobody weighted explicitly takes no traffic."""
        return {
            "default_weight": 0.0,
            "pool_weights": {
                self.target.pools.stable: weights.stable,
                self.target.pools.canary: weights.canary,
            },
        }

    def write_weights(self, weights: Weights) -> None:
        if weights.canary > 0 and not self.pool_up(Pool.CANARY):
            raise Refused(
                f"Cloudflare's monitor reports the canary pool {self.target.pools.canary} unhealthy; "
                "not shifting traffic to it. Nothing was changed"
            )
        self._call(
            f"write the weights of load balancer {self.target.load_balancer_id}",
            lambda: self.client.load_balancers.edit(
                self.target.load_balancer_id,
                zone_id=self.target.zone_id,
                random_steering=self.steering(weights),  # type: ignore[arg-type]  # a TypedDict at runtime
            ),
        )

    def pool_up(self, pool: Pool) -> bool:
        pool_id = self._pool_ids[pool]
        account = self.target.account_id
        settings = self._call(
            f"read pool {pool_id}", lambda: self.client.load_balancers.pools.get(pool_id, account_id=account)
        )
        if settings.enabled is False:
            return False
        health = self._call(
            f"read the health of pool {pool_id}",
            lambda: self.client.load_balancers.pools.health.with_raw_response.get(
                pool_id, account_id=account
            ),
        )
        return _healthy(health.http_response.json().get("result") or {})


def _healthy(result: dict[str, Any]) -> bool:
    """Whether every region checking the pool reports it healthy. The API returns `pop_health` as
    a map of region -> {healthy, origins}; a pool no region has checked yet is not up."""
    regions = result.get("pop_health") or {}
    if "healthy" in regions:  # one region's record rather than a map
        return regions["healthy"] is True
    return bool(regions) and all(isinstance(r, dict) and r.get("healthy") is True for r in regions.values())
