"""The runbook through `invoke` on a real sandbox (Postgres, Redis, the secret store): a missing
secret, a failed backup, a failed migration and a failed smoke test each stop a release before
any traffic moves; a release with a migration backs up, verifies, migrates, then deploys."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.releases.sandbox_helpers import FAST, Operator, needs_sandbox_programs, steady_load

pytestmark = [pytest.mark.e2e, needs_sandbox_programs]


@pytest.fixture
def operator(tmp_path: Path) -> Iterator[Operator]:
    person = Operator(tmp_path / "state")
    up = person.run("sandbox.up")
    assert up.returncode == 0, up.stdout + up.stderr
    yield person
    person.run("sandbox.down")


def configured(operator: Operator, **sandbox: Any) -> Operator:
    """The same operator with sandbox settings over the fast ones (a new `-f` config file)."""
    config = copy.deepcopy(FAST)
    config["releases"]["sandbox"].update(sandbox)
    return Operator(operator.state_dir, config)


def secrets_file(operator: Operator) -> Path:
    return operator.state_dir / "sandbox" / "secrets.json"


def assert_no_traffic_moved(operator: Operator) -> None:
    web = operator.status()
    assert web["weights"] == {"stable": 1.0, "canary": 0.0}
    assert web["production"]["version"] == "1.0.0"


def orders_columns(operator: Operator) -> set[str]:
    url = json.loads(secrets_file(operator).read_text())["DATABASE_URL"]
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'"
        ).fetchall()
    return {row[0] for row in rows}


def test_each_runbook_failure_stops_the_release_before_traffic_moves(operator: Operator) -> None:
    store = json.loads(secrets_file(operator).read_text())
    secret_value = store.pop("SESSION_SECRET")
    secrets_file(operator).write_text(json.dumps(store))
    missing = operator.run("release", "--percent", "10", "--version", "2.0.0")
    assert missing.returncode == 3, missing.stdout + missing.stderr
    assert "pre-flight failed: missing from the sandbox's secret store" in missing.stderr
    assert "SESSION_SECRET" in missing.stderr and secret_value not in missing.stdout + missing.stderr
    assert_no_traffic_moved(operator)
    secrets_file(operator).write_text(json.dumps({**store, "SESSION_SECRET": secret_value}))

    backups = operator.state_dir / "sandbox" / "backups"
    backups.write_text("a file where the backups directory should be")
    no_backup = operator.run("release", "--percent", "10", "--version", "2.0.0", "--migration", "reversible")
    assert no_backup.returncode == 3, no_backup.stdout + no_backup.stderr
    assert "cannot write the backup" in no_backup.stderr and "nothing was migrated" in no_backup.stderr
    assert "currency" not in orders_columns(operator)
    assert_no_traffic_moved(operator)
    backups.unlink()
    assert operator.run("rollback").returncode == 0  # closes the release that never moved traffic

    failing = [sys.executable, "-c", "import sys; print('relation orders is locked'); sys.exit(1)"]
    broken = configured(operator, migrations={"command": failing})
    no_migration = broken.run("release", "--percent", "10", "--version", "2.0.0", "--migration", "reversible")
    assert no_migration.returncode == 4, no_migration.stdout + no_migration.stderr
    assert "the migration failed (exit 1); nothing was deployed" in no_migration.stderr
    assert "relation orders is locked" in no_migration.stderr
    assert_no_traffic_moved(operator)
    assert operator.status()["staging"]["version"] == "1.0.0"  # not deployed
    assert operator.run("rollback").returncode == 0

    strict = configured(operator, smoke={"checks": [{"path": "/", "contains": "no such text"}]})
    no_smoke = strict.run("release", "--percent", "10", "--version", "2.0.0")
    assert no_smoke.returncode == 4, no_smoke.stdout + no_smoke.stderr
    assert "smoke tests failed on the staging slot: GET / on staging: the body does not contain" in (
        no_smoke.stderr
    )
    assert_no_traffic_moved(operator)


def test_a_release_with_a_migration_backs_up_verifies_and_migrates_first(operator: Operator) -> None:
    assert "currency" not in orders_columns(operator)
    with steady_load(operator):
        result = operator.run("release", "--percent", "10", "--version", "2.3.0", "--migration", "reversible")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "currency" in orders_columns(operator)
    backups = list((operator.state_dir / "sandbox" / "backups").glob("*.dump"))
    assert len(backups) == 1 and backups[0].stat().st_mode & 0o077 == 0  # the owner's only
    history = json.loads(operator.run("history", "--json").stdout)
    assert history[-1]["version"] == "2.3.0" and history[-1]["migration"] == "reversible"
    web = operator.status()
    assert web["weights"] == {"stable": 0.9, "canary": 0.1}
    slot = json.loads((operator.state_dir / "sandbox" / "topology.json").read_text())
    addresses = slot["services"]["web"]["slots"]["slots"]
    health = httpx.get(f"http://{addresses[web['staging']['slot']]['address']}/health", timeout=5).json()
    assert health["version"] == "2.3.0" and health["status"] == "healthy"
    assert health["services"] == {"database": "connected", "redis": "connected"}
