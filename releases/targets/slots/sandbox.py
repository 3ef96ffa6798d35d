"""The sandbox's slot pair: two local app processes behind HAProxy's `stable` and `canary` servers.

Which process is production is read from HAProxy (the one `stable` points at), exactly as an App
Service's production slot is whatever the platform routes the production hostname to. A swap
exchanges the two servers' addresses in one runtime API line; neither process restarts.
"""

from __future__ import annotations

from collections.abc import Callable

from releases.errors import VerificationFailed
from releases.model import Pool, SlotHealth
from releases.targets.routers.haproxy import RuntimeAPI, server_states
from releases.targets.slots.probe import fetch, probe_slot
from releases.topology import HealthPaths, SandboxSlotPairSpec


class SandboxSlots:
    def __init__(
        self,
        targets: SandboxSlotPairSpec,
        health: HealthPaths,
        deploy: Callable[[str], object],
    ) -> None:
        self.targets = targets
        self.health = health
        self.api = RuntimeAPI(targets.runtime_api)
        self._deploy = deploy  # puts a version on whichever slot is staging

    def _colours(self) -> tuple[str, str]:
        """(production colour, staging colour) from the addresses HAProxy routes to."""
        states = server_states(self.api, self.targets.backend)
        by_address = {slot.address: colour for colour, slot in self.targets.slots.items()}
        try:
            production = by_address[f"{states[Pool.STABLE].address}:{states[Pool.STABLE].port}"]
            staging = by_address[f"{states[Pool.CANARY].address}:{states[Pool.CANARY].port}"]
        except KeyError as error:
            raise VerificationFailed(
                f"HAProxy routes to {error}, which is neither sandbox slot {dict(by_address)}"
            ) from None
        if production == staging:
            raise VerificationFailed(f"both HAProxy servers point at the {production} slot")
        return production, staging

    def _probe(self, colour: str) -> SlotHealth:
        return probe_slot(colour, f"http://{self.targets.slots[colour].address}", self.health)

    def probe(self) -> tuple[SlotHealth, SlotHealth]:
        production, staging = self._colours()
        return self._probe(production), self._probe(staging)

    def probe_staging(self) -> SlotHealth:
        return self._probe(self._colours()[1])

    def deploy_staging(self, version: str) -> None:
        self._deploy(version)

    def preflight(self) -> None:
        """Local processes need no credentials and carry no slot settings."""

    def unresolved_references(self) -> list[str]:
        """None can be: a slot process gets its secrets' values from the sandbox's store when it
        starts (a missing one is the pre-flight's missing secret), never a reference to resolve."""
        return []

    def url(self, staging: bool) -> str:
        production, staging_colour = self._colours()
        return f"http://{self.targets.slots[staging_colour if staging else production].address}"

    def fetch(self, staging: bool, path: str, timeout: float) -> tuple[int, str]:
        return fetch(self.url(staging), path, timeout)

    def swap(self) -> None:
        """Exchange the servers' addresses and, with them, each slot's health as the slot reports it.

        HAProxy keeps a server's health when its address changes and relearns it only through its
        checks (`rise 2` at 500 ms). On App Service the swapped-in slot serves at once; here each
        server is told the health of the slot it now points at, probed now: without that, a swap
        away from a dead production slot left `stable` down, and every user got a 503, while a
        freshly started staging slot not yet risen in HAProxy's eyes must not be taken for dead.
        """
        backend = self.targets.backend
        production, staging = self._colours()
        to_stable, to_canary = self._probe(staging), self._probe(production)
        new_stable = self.targets.slots[staging].address.rsplit(":", 1)
        new_canary = self.targets.slots[production].address.rsplit(":", 1)
        output = self.api.run(
            f"set server {backend}/{Pool.STABLE.value} addr {new_stable[0]} port {new_stable[1]}",
            f"set server {backend}/{Pool.CANARY.value} addr {new_canary[0]} port {new_canary[1]}",
            f"set server {backend}/{Pool.STABLE.value} health {_health(to_stable)}",
            f"set server {backend}/{Pool.CANARY.value} health {_health(to_canary)}",
        )
        # Each address change answers with what changed; anything else is a refusal.
        refusals = [line for line in output.splitlines() if line.strip() and "change" not in line]
        if refusals:
            raise VerificationFailed(f"HAProxy refused the swap: {'; '.join(refusals)}")


def _health(slot: SlotHealth) -> str:
    """HAProxy's check asks /health/ready: up is what that check would conclude."""
    return "up" if slot.ready else "down"
