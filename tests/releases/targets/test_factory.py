"""The factory: each spec kind of a topology gets its adapter, configured from the spec, and the
sandbox's adapters load no cloud SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from releases.sandbox.configs import topology as sandbox_topology
from releases.settings import load_release_settings
from releases.targets.backups.flexible_server import FlexibleServerBackups
from releases.targets.backups.pg_dump import PgDumpBackups
from releases.targets.factory import connect
from releases.targets.metrics.log_analytics import LogAnalyticsSource
from releases.targets.metrics.prometheus import PrometheusSource
from releases.targets.routers.cloudflare import CloudflareLoadBalancer
from releases.targets.routers.haproxy import HAProxyRouter
from releases.targets.secrets.key_vault import KeyVaultSecrets
from releases.targets.secrets.sandbox import SandboxSecrets
from releases.targets.slots.app_service import AppServiceSlots
from releases.targets.slots.kubernetes import KubernetesSlots
from releases.targets.slots.sandbox import SandboxSlots
from releases.topology import parse_topology
from tests.releases.cloud_fakes.world import cloud_world
from tests.releases.test_topology import LAYOUT, _state


def test_a_sandbox_topology_gets_the_sandbox_adapters(tmp_path: Path) -> None:
    settings = load_release_settings({}, tmp_path)
    described = parse_topology(sandbox_topology(_state(), LAYOUT), "the sandbox")
    targets = connect(settings, described, "web")
    assert isinstance(targets.router, HAProxyRouter) and targets.router.backend == "web"
    assert targets.router.api.socket_path == "/srv/sandbox/haproxy.sock"
    assert isinstance(targets.slots, SandboxSlots)
    assert isinstance(targets.metrics, PrometheusSource)
    assert isinstance(targets.secrets, SandboxSecrets) and targets.secrets.path == Path(
        "/srv/sandbox/secrets.json"
    )
    assert isinstance(targets.database, PgDumpBackups)


@pytest.mark.e2e
def test_a_cloud_topology_gets_each_kind_its_adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with cloud_world(tmp_path / "clouds") as world:
        for name, value in world.environment().items():
            monkeypatch.setenv(name, value)
        settings = load_release_settings({"clouds": world.clouds_config()}, tmp_path)
        described = parse_topology(world.topology(), str(world.topology_file))
        web = connect(settings, described, "web")
        api = connect(settings, described, "api")
    assert isinstance(web.router, CloudflareLoadBalancer) and isinstance(api.router, CloudflareLoadBalancer)
    assert isinstance(web.slots, AppServiceSlots)
    assert isinstance(web.metrics, LogAnalyticsSource)  # the topology names a Log Analytics workspace
    assert isinstance(web.secrets, KeyVaultSecrets)
    assert isinstance(web.database, FlexibleServerBackups)
    assert isinstance(api.slots, KubernetesSlots)
    assert isinstance(api.metrics, PrometheusSource)
    assert api.secrets is None and api.database is None


def test_the_sandbox_adapters_load_no_cloud_sdk(tmp_path: Path) -> None:
    """Only the factory imports lazily, and only the kinds a topology names: building the
    sandbox's adapters imports neither Azure, Kubernetes nor Cloudflare code."""
    program = f"""
import sys
from pathlib import Path
from releases.sandbox.configs import topology
from releases.settings import load_release_settings
from releases.targets.factory import connect
from releases.topology import parse_topology
from tests.releases.test_topology import LAYOUT, _state
settings = load_release_settings({{}}, Path({str(tmp_path)!r}))
connect(settings, parse_topology(topology(_state(), LAYOUT), "the sandbox"), "web")
loaded = sorted({{name.split(".")[0] for name in sys.modules}} & {{"azure", "kubernetes", "cloudflare"}})
print(",".join(loaded))
"""
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
