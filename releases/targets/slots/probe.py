"""What a slot says about itself: its health and readiness paths over HTTP(S).

Shared by every slot pair whose slots answer HTTP themselves (the sandbox's processes, App
Service's slots on their own host names).
"""

from __future__ import annotations

import functools
import ssl

import httpx

from releases.errors import TargetUnavailable
from releases.model import SlotHealth
from releases.topology import HealthPaths

PROBE_TIMEOUT_SECONDS = 2.0


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context per process: building one (loading the CA bundle) costs about 30 ms, which
    every probe paid when each made its own, and `invoke status` probes four slots."""
    return httpx.create_ssl_context()


def probe_slot(name: str, base_url: str, paths: HealthPaths) -> SlotHealth:
    """Ask a slot for its health and readiness; an unreachable slot is unhealthy, not an error."""
    try:
        with httpx.Client(base_url=base_url, timeout=PROBE_TIMEOUT_SECONDS, verify=_tls()) as client:
            health = client.get(paths.health)
            ready = client.get(paths.ready)
    except httpx.HTTPError as error:
        return SlotHealth(name=name, version=None, healthy=False, ready=False, detail=str(error))
    try:
        body = health.json()
    except ValueError:
        body = {}
    version = body.get("version") if isinstance(body, dict) else None
    return SlotHealth(
        name=name,
        version=version if isinstance(version, str) else None,
        healthy=health.status_code == 200 and body.get("status") == "healthy",
        ready=ready.status_code == 200,
        detail=f"/health {health.status_code}, ready {ready.status_code}",
    )


def fetch(base_url: str, path: str, timeout: float) -> tuple[int, str]:
    """GET `path` on a slot (smoke tests): (status, body); unreachable is `TargetUnavailable`."""
    try:
        with httpx.Client(base_url=base_url, timeout=timeout, verify=_tls()) as client:
            response = client.get(path)
    except httpx.HTTPError as error:
        raise TargetUnavailable(f"{base_url}{path} could not be reached ({type(error).__name__})") from None
    return response.status_code, response.text
