"""The runbook against local fakes of the clouds, through `invoke --env staging --topology FILE`:
Key Vault's secret names, App Service's Key Vault reference status, the Flexible Server's
on-demand backup before a migration, and smoke tests through each slot pair (App Service's slot
host names, the Kubernetes API server's service proxy)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.releases.cloud_fakes import azure
from tests.releases.cloud_fakes.world import WEB_BALANCER, CloudWorld, cloud_world
from tests.releases.sandbox_helpers import Operator
from tests.test_cloud_release_tasks import assert_no_secret_anywhere, first_step, operator, run, serving

pytestmark = pytest.mark.e2e

# Checks it was given Key Vault's DATABASE_URL, then leaves a mark (the migration "ran").
MIGRATION = (
    "import os, pathlib, sys; ok = os.environ['DATABASE_URL'] == {url!r};"
    " pathlib.Path({mark!r}).write_text(os.environ['RELEASE_VERSION']); sys.exit(0 if ok else 9)"
)
RELEASE_WITH_MIGRATION = ("release", "--percent", "10", "--version", "1.1.0", "--migration", "reversible")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[CloudWorld]:
    with cloud_world(tmp_path / "cloud") as fakes:
        yield fakes


def migrating(world: CloudWorld, tmp_path: Path, mark: Path) -> Operator:
    script = MIGRATION.format(url=azure.DATABASE_URL, mark=str(mark))
    migrations: dict[str, Any] = {"command": [sys.executable, "-c", script]}
    return operator(world, tmp_path, staging={"migrations": migrations})


def assert_nothing_changed(world: CloudWorld) -> None:
    assert world.cloudflare.writes(WEB_BALANCER) == 0
    assert serving(world, "web") == ("1.0.0", "1.0.0")


def test_a_secret_missing_or_disabled_in_key_vault_stops_the_release(
    world: CloudWorld, tmp_path: Path
) -> None:
    del world.azure.vault["nextauth-secret"]
    world.azure.vault["stripe-secret-key"] = ("sk_live_disabled", False)
    result = first_step(operator(world, tmp_path), world, "web", "10", "1.1.0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"missing from Key Vault {world.azure.url}: NEXTAUTH_SECRET, STRIPE_SECRET_KEY" in result.stderr
    assert "sk_live_disabled" not in result.stdout + result.stderr
    assert_nothing_changed(world)


def test_an_unresolved_key_vault_reference_stops_the_release(world: CloudWorld, tmp_path: Path) -> None:
    world.azure.slots[azure.SLOT].references["REDIS_URL"] = "SecretNotFound"
    result = first_step(operator(world, tmp_path), world, "web", "10", "1.1.0")
    assert result.returncode == 3, result.stdout + result.stderr
    assert "the staging slot's setting(s) REDIS_URL hold an unresolved Key Vault reference" in result.stderr
    assert_nothing_changed(world)


def test_a_migration_runs_after_the_flexible_servers_backup(world: CloudWorld, tmp_path: Path) -> None:
    mark = tmp_path / "migrated"
    person = migrating(world, tmp_path, mark)
    result = run(person, world, *RELEASE_WITH_MIGRATION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert mark.read_text() == "1.1.0"
    [(name, completed)] = world.azure.backups.items()
    assert name.startswith("before-") and completed is not None
    assert serving(world, "web") == ("1.0.0", "1.1.0")
    assert_no_secret_anywhere(person, result.stdout, result.stderr)  # Key Vault's DATABASE_URL included


def test_a_failed_backup_stops_the_release_before_the_migration(world: CloudWorld, tmp_path: Path) -> None:
    world.azure.backup_error = "On-demand backups are not supported while the server is restarting"
    mark = tmp_path / "migrated"
    person = migrating(world, tmp_path, mark)
    result = run(person, world, *RELEASE_WITH_MIGRATION)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "the on-demand backup before-" in result.stderr
    assert "not supported while the server is restarting; nothing was migrated" in result.stderr
    assert not mark.exists()
    assert_nothing_changed(world)


def test_a_backup_that_fails_after_it_was_accepted_stops_the_release(
    world: CloudWorld, tmp_path: Path
) -> None:
    """ARM accepts the backup (202, Azure-AsyncOperation and Location), then its status monitor
    reports Failed: the release stops before the migration, as for a refused backup."""
    world.azure.backup_async_failure = "The backup could not be completed: storage quota exceeded"
    mark = tmp_path / "migrated"
    person = migrating(world, tmp_path, mark)
    result = run(person, world, *RELEASE_WITH_MIGRATION)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "the on-demand backup before-" in result.stderr and "storage quota exceeded" in result.stderr
    assert world.azure.count("GET", r"/azureAsyncOperation/[\w-]+") >= 2  # polled past InProgress
    assert not mark.exists()
    assert_nothing_changed(world)


def test_smoke_tests_reach_kubernetes_slots_through_the_service_proxy(
    world: CloudWorld, tmp_path: Path
) -> None:
    person = operator(world, tmp_path)
    assert first_step(person, world, "api", "10", "1.1.0").returncode == 0
    assert world.kubernetes.proxied == [("api-preview", "health/ready")]  # staging, before traffic
    promoted = run(person, world, "release", "--service", "api", "--percent", "100")
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    assert world.kubernetes.proxied[-1] == ("api-active", "health/ready")  # production, after the swap
