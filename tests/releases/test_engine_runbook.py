"""The engine's runbook steps against in-memory fakes: each failure before traffic stops the release
with nothing moved; migrations run once, after their backup; irreversible ones hold rollbacks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from releases.engine import Engine, Step
from releases.errors import BadInput, GateFailed, Refused
from releases.journal import Journal
from releases.model import Migration, Outcome, Pool, Weights
from releases.settings import EnvironmentSettings, Migrations, SmokeCheck, SmokeTests
from tests.releases.fakes import FakeClock, FakeWorld
from tests.releases.test_engine import BAD, SETTINGS

MIGRATE_OK = (sys.executable, "-c", "import os; print('migrated to', os.environ['RELEASE_VERSION'])")
RUNBOOK = SETTINGS.model_copy(
    update={
        "required_secrets": {"web": ("DATABASE_URL", "SESSION_SECRET")},
        "smoke": SmokeTests(checks=(SmokeCheck(path="/", status=200, contains="ok"),)),
        "migrations": Migrations(command=MIGRATE_OK),
    }
)


def with_migrations(migrations: Migrations) -> EnvironmentSettings:
    return RUNBOOK.model_copy(update={"migrations": migrations})


@pytest.fixture
def world() -> FakeWorld:
    world = FakeWorld()
    world.secrets.values["SESSION_SECRET"] = "s3ssion-value"
    return world


def engine_for(world: FakeWorld, journal: Journal, settings: EnvironmentSettings = RUNBOOK) -> Engine:
    clock = FakeClock()
    return Engine("sandbox", "web", world.targets, settings, journal, clock=clock, sleep=clock.sleep)


def assert_nothing_moved(world: FakeWorld) -> None:
    assert world.router.writes == []
    assert world.router.weights.matches(Weights.all_stable())
    assert world.slots.swaps == 0


def test_the_first_step_runs_the_runbook_in_order(world: FakeWorld, journal: Journal) -> None:
    result = engine_for(world, journal).release(10, "2.0.0", migration=Migration.REVERSIBLE)
    assert [a.step for a in result.actions] == [
        Step.PREFLIGHT,
        Step.BACKUP,
        Step.MIGRATE,
        Step.DEPLOY,
        Step.HEALTH,
        Step.SMOKE,
        Step.WEIGHTS,
        Step.BAKE,
    ]
    assert result.release is not None and result.release.migration is Migration.REVERSIBLE
    events = journal.events(result.release.id)
    order = [e.action for e in events if e.kind == "outcome"]
    assert order[0] == Step.PREFLIGHT  # journaled with the release it let through
    assert order.index("backup") < order.index("migrate") < order.index("deploy")
    migrate = next(e for e in events if e.kind == "outcome" and e.action == "migrate")
    assert migrate.detail["output"] == "migrated to 2.0.0"
    assert world.database.backups == [f"before-{result.release.id}"]
    assert world.slots.fetched == [("green", "/")]  # the staging slot, before traffic


def test_a_missing_secret_stops_the_release_before_anything_changes(
    world: FakeWorld, journal: Journal
) -> None:
    del world.secrets.values["SESSION_SECRET"]
    with pytest.raises(Refused, match=r"missing from the fake store: SESSION_SECRET\. Nothing was changed"):
        engine_for(world, journal).release(10, "2.0.0")
    assert_nothing_moved(world)
    assert world.slots.deploys == [] and journal.releases() == []


def test_an_unresolved_reference_stops_the_release(world: FakeWorld, journal: Journal) -> None:
    world.slots.unresolved = ["STRIPE_SECRET_KEY"]
    with pytest.raises(Refused, match="STRIPE_SECRET_KEY hold an unresolved Key Vault reference"):
        engine_for(world, journal).release(10, "2.0.0")
    assert_nothing_moved(world)
    assert world.slots.deploys == []


def test_secret_values_never_reach_the_error_or_the_journal(world: FakeWorld, journal: Journal) -> None:
    del world.secrets.values["DATABASE_URL"]
    with pytest.raises(Refused) as refused:
        engine_for(world, journal).release(10, "2.0.0")
    recorded = ",".join(json.dumps(event.detail) for event in journal.events())
    for text in (str(refused.value), recorded):
        assert "s3ssion-value" not in text and "DATABASE_URL" in text


def test_a_failed_backup_stops_the_release_before_the_migration(
    world: FakeWorld, journal: Journal, tmp_path: Path
) -> None:
    world.database.refusal = "pg_dump failed (exit 1): connection refused; nothing was migrated"
    marker = tmp_path / "migrated"
    settings = with_migrations(Migrations(command=(sys.executable, "-c", f"open({str(marker)!r}, 'w')")))
    with pytest.raises(Refused, match="pg_dump failed"):
        engine_for(world, journal, settings).release(10, "2.0.0", migration=Migration.REVERSIBLE)
    assert not marker.exists()
    assert_nothing_moved(world)
    assert world.slots.deploys == []


def test_a_failed_migration_stops_the_release_before_the_deploy(world: FakeWorld, journal: Journal) -> None:
    command = (
        sys.executable,
        "-c",
        "import os, sys; print('ALTER failed for', os.environ['DATABASE_URL']); sys.exit(3)",
    )
    settings = with_migrations(Migrations(command=command))
    with pytest.raises(GateFailed, match=r"migration failed \(exit 3\); nothing was deployed") as failed:
        engine_for(world, journal, settings).release(10, "2.0.0", migration=Migration.REVERSIBLE)
    assert "ALTER failed for [secret]" in str(failed.value)  # the URL (with its password) masked
    assert "pw@db" not in str(failed.value)
    assert_nothing_moved(world)
    assert world.slots.deploys == []


def test_a_failed_smoke_test_on_staging_moves_no_traffic(world: FakeWorld, journal: Journal) -> None:
    world.slots.staging.pages["/"] = (200, "maintenance page")
    with pytest.raises(GateFailed, match="smoke tests failed on the staging slot: GET / on staging: the"):
        engine_for(world, journal).release(10, "2.0.0")
    assert_nothing_moved(world)
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.in_flight  # fix and rerun, or roll back
    gate = [e for e in journal.events(record.id) if e.kind == "gate"]
    assert gate[-1].action == Step.SMOKE and gate[-1].detail["verdict"] == "fail"


def test_a_failed_smoke_test_after_promotion_swaps_back(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(50, "2.0.0")
    world.slots.staging.pages["/"] = (503, "down")  # 2.0.0's slot, which the swap makes production
    with pytest.raises(GateFailed, match="gate failed after promotion: GET / on production answered 503"):
        engine.release(100)
    assert world.slots.swaps == 2 and world.slots.production.version == "1.0.0"
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.outcome is Outcome.ROLLED_BACK


def test_the_migration_runs_once_across_steps_and_reruns(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0", migration=Migration.REVERSIBLE)
    second = engine.release(50)
    assert Step.MIGRATE not in [a.step for a in second.actions]
    assert len(world.database.backups) == 1


def test_a_migration_is_declared_on_the_first_step_only(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0")
    with pytest.raises(BadInput, match="declared once, with the first step"):
        engine.release(50, migration=Migration.IRREVERSIBLE)


def test_a_migration_without_a_configured_command_is_bad_input(world: FakeWorld, journal: Journal) -> None:
    settings = with_migrations(Migrations())
    with pytest.raises(BadInput, match=r"releases\.sandbox\.migrations\.command is not configured"):
        engine_for(world, journal, settings).release(10, "2.0.0", migration=Migration.REVERSIBLE)
    assert world.database.backups == [] and journal.releases() == []


def test_an_irreversible_migration_holds_a_failed_promotion_instead_of_rolling_back(
    world: FakeWorld, journal: Journal
) -> None:
    engine = engine_for(world, journal)
    engine.release(50, "2.0.0", migration=Migration.IRREVERSIBLE)
    world.metrics.samples[Pool.STABLE] = BAD  # the new production misbehaves after the swap
    with pytest.raises(GateFailed, match=r"NOT rolled back: 2\.0\.0 ran an irreversible migration") as held:
        engine.release(100)
    assert "pg_restore --clean /backups/before-" in str(held.value)  # the restore procedure
    assert world.slots.production.version == "2.0.0" and world.slots.swaps == 1  # traffic unchanged
    record = journal.latest_release("sandbox", "web")
    assert record is not None and record.in_flight


def test_at_a_canary_step_an_irreversible_migration_still_rolls_back(
    world: FakeWorld, journal: Journal
) -> None:
    """1.0.0 already serves 90% of users on the migrated schema: moving the canary's 10% back to
    it is safe, and needs no restore."""
    engine = engine_for(world, journal)
    world.metrics.samples[Pool.CANARY] = BAD
    with pytest.raises(GateFailed, match=r"Rolled back: production serves 1\.0\.0"):
        engine.release(10, "2.0.0", migration=Migration.IRREVERSIBLE)
    assert world.router.weights.matches(Weights.all_stable())


def test_a_manual_rollback_past_an_irreversible_migration_after_promotion_needs_the_operator_to_say_so(
    world: FakeWorld, journal: Journal
) -> None:
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0", migration=Migration.IRREVERSIBLE)
    engine.release(100)
    with pytest.raises(Refused, match="Restore the database first") as refused:
        engine.rollback()
    assert "pg_restore --clean" in str(refused.value)
    assert world.slots.production.version == "2.0.0"
    engine.rollback(past_migration=True)
    assert world.slots.production.version == "1.0.0"


def test_a_manual_rollback_at_a_canary_step_needs_no_restore(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0", migration=Migration.IRREVERSIBLE)
    engine.rollback()
    assert world.router.weights.matches(Weights.all_stable())


def test_a_reversible_migration_rolls_back_as_usual(world: FakeWorld, journal: Journal) -> None:
    engine = engine_for(world, journal)
    engine.release(10, "2.0.0", migration=Migration.REVERSIBLE)
    engine.rollback()
    assert world.router.weights.matches(Weights.all_stable())


def test_a_migration_requires_its_database_url_in_the_store(world: FakeWorld, journal: Journal) -> None:
    del world.secrets.values["DATABASE_URL"]
    settings = RUNBOOK.model_copy(update={"required_secrets": {"web": ("SESSION_SECRET",)}})
    with pytest.raises(Refused, match=r"missing from the fake store: DATABASE_URL\. Nothing was changed"):
        engine_for(world, journal, settings).release(10, "2.0.0", migration=Migration.REVERSIBLE)
    assert world.database.backups == [] and journal.releases() == []
    assert_nothing_moved(world)


# A migration that prints its connection in another form than the URL it was given: libpq's
# keyword/value DSN (as psycopg's `conninfo` shows it), the password on its own, and another
# secret of the store it happens to know.
PRINTS_ITS_DSN = (
    sys.executable,
    "-c",
    "import os, sys; from urllib.parse import urlsplit; u = urlsplit(os.environ['DATABASE_URL']);"
    " print(f'dsn: host={u.hostname} user={u.username} password={u.password} dbname=app');"
    " print('password:', u.password); print('session', os.environ['SESSION_SECRET']);"
    " sys.exit(int(os.environ.get('EXIT', '0')))",
)


@pytest.mark.parametrize("exit_status", [0, 3])
def test_a_migration_printing_its_dsn_leaks_no_secret(
    world: FakeWorld, journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exit_status: int
) -> None:
    world.secrets.values["DATABASE_URL"] = "postgresql://app:Pl4nted-pw@db:5432/app"
    monkeypatch.setenv("SESSION_SECRET", "s3ssion-value")  # the command learns it from elsewhere
    monkeypatch.setenv("EXIT", str(exit_status))
    clock = FakeClock()
    engine = Engine(
        "sandbox",
        "web",
        world.targets,
        with_migrations(Migrations(command=PRINTS_ITS_DSN)),
        journal,
        clock=clock,
        sleep=clock.sleep,
        reports_dir=tmp_path / "reports",
    )

    shown = ""
    try:
        engine.release(10, "2.0.0", migration=Migration.REVERSIBLE)
    except GateFailed as error:
        shown = str(error)
    engine.rollback()

    assert bool(shown) == bool(exit_status)
    recorded = ",".join(json.dumps(event.detail) for event in journal.events())
    logs = "".join(path.read_text() for path in (tmp_path / "reports").iterdir())
    assert "host=db user=app password=[secret] dbname=app" in recorded  # shown, and masked
    for text in (shown, recorded, logs):
        assert "Pl4nted-pw" not in text and "s3ssion-value" not in text


def test_a_smoke_command_printing_a_secret_leaks_it_nowhere(world: FakeWorld, journal: Journal) -> None:
    command = (sys.executable, "-c", "import sys; print('token=s3ssion-value rejected'); sys.exit(1)")
    settings = RUNBOOK.model_copy(update={"smoke": SmokeTests(command=command)})
    with pytest.raises(GateFailed, match="smoke command failed") as failed:
        engine_for(world, journal, settings).release(10, "2.0.0")
    recorded = ",".join(json.dumps(event.detail) for event in journal.events())
    for text in (str(failed.value), recorded):
        assert "s3ssion-value" not in text and "[secret] rejected" in text
