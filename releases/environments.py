"""From an environment's name to the adapters that drive it."""

from __future__ import annotations

from releases.errors import Refused
from releases.sandbox.environment import Sandbox
from releases.settings import ReleaseSettings
from releases.targets.base import Targets
from releases.targets.haproxy import HAProxyRouter, RuntimeAPI
from releases.targets.prometheus import PrometheusSource
from releases.targets.sandbox_slots import SandboxSlots
from releases.topology import HAProxyRouter as HAProxyTarget
from releases.topology import PrometheusMetrics, SandboxSlotPair, Topology


def topology(settings: ReleaseSettings, environment: str) -> Topology:
    settings.environment(environment)  # an unknown name is bad input, whatever else is wrong
    if environment == "sandbox":
        return Sandbox(settings.sandbox_dir).topology()
    raise Refused(
        f"releasing to {environment} needs its topology (the stack output `release_targets`) and the "
        "cloud adapters (Cloudflare, App Service, Kubernetes), which this version does not have yet; "
        "rehearse with the sandbox (the default --env) meanwhile"
    )


def connect(settings: ReleaseSettings, topology: Topology, service: str) -> Targets:
    targets = topology.service(service)
    router, slots, metrics = targets.router, targets.slots, targets.metrics
    if not (
        isinstance(router, HAProxyTarget)
        and isinstance(slots, SandboxSlotPair)
        and isinstance(metrics, PrometheusMetrics)
    ):
        raise Refused(
            f"{topology.environment}/{service} uses {router.kind}, {slots.kind} and {metrics.kind}; "
            "this version drives only the sandbox's haproxy, sandbox and prometheus targets"
        )
    sandbox = Sandbox(settings.sandbox_dir)
    return Targets(
        router=HAProxyRouter(RuntimeAPI(router.runtime_api), router.backend),
        slots=SandboxSlots(slots, targets.health, deploy=lambda version: sandbox.deploy(service, version)),
        metrics=PrometheusSource(metrics),
    )
