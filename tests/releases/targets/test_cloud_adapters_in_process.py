"""Each cloud adapter in this process against the cloud fakes (no invoke subprocess, no real
process): built by the factory from the fakes' topology, then driven through its role's protocol."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from releases.model import Pool, Weights
from releases.settings import load_release_settings
from releases.targets.bundle import Targets
from releases.targets.factory import connect
from releases.topology import parse_topology
from tests.releases.cloud_fakes import azure
from tests.releases.cloud_fakes.world import WEB_BALANCER, WEB_CANARY, WEB_STABLE, CloudWorld, cloud_world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CloudWorld]:
    with cloud_world(tmp_path / "clouds", with_prometheus=False) as started:
        for name, value in started.environment().items():
            monkeypatch.setenv(name, value)
        yield started


def adapters(world: CloudWorld, tmp_path: Path, service: str) -> Targets:
    settings = load_release_settings({"clouds": world.clouds_config()}, tmp_path)
    return connect(settings, parse_topology(world.topology(), "the fakes' topology"), service)


def wait_until(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, "the fake never reached the state"
        time.sleep(0.05)


def test_cloudflare_weights_are_written_whole_and_read_back(world: CloudWorld, tmp_path: Path) -> None:
    router = adapters(world, tmp_path, "web").router
    assert router.read_weights() == Weights.all_stable()
    router.write_weights(Weights.canary_percent(10))
    assert router.read_weights() == Weights.canary_percent(10)
    assert world.cloudflare.weights(WEB_BALANCER) == {WEB_STABLE: 0.9, WEB_CANARY: 0.1}
    assert router.pool_up(Pool.STABLE) and router.pool_up(Pool.CANARY)


def test_app_service_deploys_to_staging_then_swaps(world: CloudWorld, tmp_path: Path) -> None:
    slots = adapters(world, tmp_path, "web").slots
    slots.preflight()
    slots.deploy_staging("2.0.0")
    wait_until(lambda: slots.probe_staging().version == "2.0.0")
    assert world.azure.serving() == {"production": "1.0.0", azure.SLOT: "2.0.0"}
    assert slots.unresolved_references() == []
    slots.swap()
    production, staging = slots.probe()
    assert (production.version, staging.version) == ("2.0.0", "1.0.0")


def test_key_vault_lists_names_and_reads_one_value(world: CloudWorld, tmp_path: Path) -> None:
    secrets = adapters(world, tmp_path, "web").secrets
    assert secrets is not None
    assert "DATABASE_URL" in secrets.names() and "REDIS_URL" in secrets.names()
    assert secrets.value("DATABASE_URL").get_secret_value() == azure.DATABASE_URL


def test_a_flexible_server_backup_is_taken_and_verified(world: CloudWorld, tmp_path: Path) -> None:
    database = adapters(world, tmp_path, "web").database
    assert database is not None
    backup = database.backup("before-2-0-0", timeout=30)
    assert (
        backup.location.endswith("/backups/before-2-0-0") and world.azure.backups["before-2-0-0"] is not None
    )


def test_kubernetes_rolls_out_the_idle_colour_then_swaps_the_services(
    world: CloudWorld, tmp_path: Path
) -> None:
    slots = adapters(world, tmp_path, "api").slots
    assert world.kubernetes.colour("api-active") == "blue"
    slots.deploy_staging("2.0.0")
    wait_until(lambda: slots.probe_staging().version == "2.0.0")
    assert world.kubernetes.image("green").endswith(":2.0.0")
    slots.swap()
    assert (
        world.kubernetes.colour("api-active") == "green" and world.kubernetes.colour("api-preview") == "blue"
    )
    production, _ = slots.probe()
    assert production.version == "2.0.0"
