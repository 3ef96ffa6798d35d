"""What the engine asks of a slot pair (local processes, App Service slots, Kubernetes colours)."""

from __future__ import annotations

from typing import Protocol

from releases.model import SlotHealth


class SlotPair(Protocol):
    """Production and staging slots; a swap exchanges what they serve without restarting."""

    def probe(self) -> tuple[SlotHealth, SlotHealth]:
        """(production, staging) as each reports itself right now."""
        ...

    def probe_staging(self) -> SlotHealth: ...

    def deploy_staging(self, version: str) -> None:
        """Put `version` on the staging slot; returns once the slot was told to (the engine then
        waits for it to report healthy, ready and the version)."""
        ...

    def swap(self) -> None: ...

    def preflight(self) -> None:
        """Raise `Refused` if a release could not go through: credentials missing, or a swap would
        restart what serves traffic. Called before a release changes anything, and before a swap."""
        ...

    def unresolved_references(self) -> list[str]:
        """Names of the staging slot's settings whose secret reference did not resolve (App Service
        passes an unresolved Key Vault reference to the app as the literal `@Microsoft.KeyVault(...)`
        string). Names only, never values."""
        ...

    def url(self, staging: bool) -> str | None:
        """Where a slot answers HTTP directly (for smoke-test commands), or None when it is reached
        only through an API (Kubernetes' service proxy)."""
        ...

    def fetch(self, staging: bool, path: str, timeout: float) -> tuple[int, str]:
        """GET `path` on a slot: (status, body). Raises `TargetUnavailable` when unreachable."""
        ...
