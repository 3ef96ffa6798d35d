"""The topology contract: what a release needs to know about an environment (DESIGN.md section 4).

One document per environment: per released service, the traffic router, the slot pair, the
health paths and the metric source. The sandbox writes it when it starts; the Pulumi program
exports the same shape as the stack output `release_targets` (the cloud kinds join these unions
with the cloud adapters). Everything here is validated on load, so an adapter never sees a
half-formed target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from releases.errors import BadInput

# Names used inside PromQL selectors and HAProxy commands: no quotes, spaces or separators.
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
HostPort = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$")]
ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HealthPaths(_Contract):
    health: str = "/health"
    live: str = "/health/live"
    ready: str = "/health/ready"


class HAProxyRouter(_Contract):
    """HAProxy as the weighted router: one backend, one server per pool, weights set at runtime."""

    kind: Literal["haproxy"] = "haproxy"
    runtime_api: HostPort
    backend: Identifier
    public_url: str = Field(description="where users reach the service through the router")


class SandboxSlot(_Contract):
    address: HostPort


class SandboxSlotPair(_Contract):
    """Two local slot processes. Which one is production is whatever HAProxy's `stable` server
    points at, so a swap exchanges the two servers' addresses and restarts nothing."""

    kind: Literal["sandbox"] = "sandbox"
    runtime_api: HostPort
    backend: Identifier
    slots: dict[Identifier, SandboxSlot] = Field(min_length=2, max_length=2)


class PrometheusMetrics(_Contract):
    """Per-pool request, error and latency figures from the Prometheus HTTP API."""

    kind: Literal["prometheus"] = "prometheus"
    url: str
    responses_metric: Identifier = "haproxy_server_http_responses_total"
    responses_labels: dict[Identifier, Identifier]
    responses_pool_label: Identifier = "server"
    latency_histogram: Identifier
    latency_labels: dict[Identifier, Identifier]
    latency_pool_label: Identifier = "pool"


class ServiceTargets(_Contract):
    router: HAProxyRouter
    slots: SandboxSlotPair
    metrics: PrometheusMetrics
    health: HealthPaths = HealthPaths()


class Topology(_Contract):
    environment: Identifier
    services: dict[ServiceName, ServiceTargets] = Field(min_length=1)

    def service(self, name: str) -> ServiceTargets:
        try:
            return self.services[name]
        except KeyError:
            known = ", ".join(sorted(self.services))
            raise BadInput(
                f"unknown --service {name!r} in {self.environment}; expected one of: {known}"
            ) from None


def load_topology(path: Path) -> Topology:
    """Read and validate a topology document, naming the file and every problem on failure."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise BadInput(f"topology file {path} does not exist") from None
    except (OSError, ValueError) as error:
        raise BadInput(f"topology file {path} is not readable JSON: {error}") from None
    try:
        return Topology.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(document)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise BadInput(f"topology file {path} does not match the contract: {problems}") from None
