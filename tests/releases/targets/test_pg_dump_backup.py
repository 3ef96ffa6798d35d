"""`pg_dump` backups on a real Postgres (the sandbox's): verified by a restore, also while the
database is being written to, and refused when the backup cannot be written."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from releases.errors import Refused
from releases.sandbox.environment import Sandbox
from releases.targets.backups.pg_dump import PgDumpBackups
from releases.topology import SandboxPostgresSpec
from tests.releases.sandbox_helpers import needs_sandbox_programs

pytestmark = [pytest.mark.e2e, needs_sandbox_programs]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    running = Sandbox(tmp_path / "sandbox")
    running.up()
    yield running
    running.down()


def backups(sandbox: Sandbox, directory: Path) -> PgDumpBackups:
    state = sandbox.require_running()
    target = SandboxPostgresSpec(backups_dir=str(directory), bin_dir=state.postgres_bin_dir)
    return PgDumpBackups(target, sandbox.secrets, "DATABASE_URL")


def test_a_backup_taken_while_orders_are_written_still_verifies(sandbox: Sandbox, tmp_path: Path) -> None:
    url = sandbox.secrets.value("DATABASE_URL").get_secret_value()
    writing, written = threading.Event(), []

    def write_orders() -> None:
        with psycopg.connect(url, autocommit=True) as connection:
            while not writing.is_set() and len(written) < 100_000:  # bounded, whatever happens
                connection.execute("INSERT INTO orders (customer, amount_cents) VALUES ('writer', 1)")
                written.append(1)

    writer = threading.Thread(target=write_orders)
    writer.start()
    try:
        while not written:  # the writer is under way before the backup starts
            writer.join(0.01)
        backup = backups(sandbox, tmp_path / "backups").backup("during-writes", timeout=60)
    finally:
        writing.set()
        writer.join()
    # The counts and the dump share one snapshot: rows written meanwhile are in neither.
    assert backup.verification.endswith("every count matches")
    assert Path(backup.location).stat().st_mode & 0o077 == 0


def test_a_backup_that_cannot_be_written_is_refused(sandbox: Sandbox, tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    with pytest.raises(Refused, match=r"cannot write the backup .* nothing was migrated"):
        backups(sandbox, blocked).backup("blocked", timeout=60)
