"""From an environment's name to the adapters that drive it."""

from __future__ import annotations

from releases.errors import Refused
from releases.sandbox.environment import Sandbox
from releases.settings import ReleaseSettings
from releases.targets.base import Targets
from releases.targets.haproxy import HAProxyRouter, RuntimeAPI
from releases.targets.prometheus import PrometheusSource
from releases.targets.sandbox_slots import SandboxSlots
from releases.topology import Topology


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
    sandbox = Sandbox(settings.sandbox_dir)
    return Targets(
        router=HAProxyRouter(RuntimeAPI(targets.router.runtime_api), targets.router.backend),
        slots=SandboxSlots(
            targets.slots, targets.health, deploy=lambda version: sandbox.deploy(service, version)
        ),
        metrics=PrometheusSource(targets.metrics),
    )
