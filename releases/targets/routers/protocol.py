"""What the engine asks of a traffic router (HAProxy in the sandbox, Cloudflare's load balancer in
the clouds)."""

from __future__ import annotations

from typing import Protocol

from releases.model import Pool, Weights


class TrafficRouter(Protocol):
    """Two weighted pools; weights are always written whole, in one write."""

    def read_weights(self) -> Weights: ...

    def write_weights(self, weights: Weights) -> None: ...

    def pool_up(self, pool: Pool) -> bool:
        """Whether the router's own health monitor considers the pool able to take traffic."""
        ...
