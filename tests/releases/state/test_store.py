"""The state store: chosen by URL, its schema owned by Alembic and checked at start, its faults
explained without the password. Through `invoke` where an operator would see the result."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from releases import signals
from releases.errors import BadInput, JournalUnavailable
from releases.journal import EventKind, Journal
from releases.lock import ReleaseLock
from releases.state import schema
from releases.state import store as store_module
from releases.state.store import StateStore, parse_url
from tests.process_states import child_process, wait_until_stopped
from tests.releases.sandbox_helpers import Operator
from tests.state_stores import PostgresCluster, not_answering, wait_for_rows

pytestmark = pytest.mark.e2e

MIGRATIONS = Path(store_module.__file__).parent / "migrations"

# The journal's schema before the store had migrations, as journal.py created it (and an older one
# still, without the columns it later added on open).
PRE_MIGRATION_SCHEMA = """
CREATE TABLE releases (id TEXT PRIMARY KEY, environment TEXT NOT NULL, service TEXT NOT NULL,
    version TEXT NOT NULL, previous_version TEXT, operator TEXT NOT NULL, started_at REAL NOT NULL,
    finished_at REAL, outcome TEXT, last_percent INTEGER, migration TEXT);
CREATE INDEX releases_by_target ON releases (environment, service, started_at);
CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, environment TEXT NOT NULL,
    service TEXT NOT NULL, release_id TEXT, operator TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('intent', 'outcome', 'gate', 'note')), action TEXT NOT NULL,
    detail TEXT NOT NULL);
CREATE TABLE leases (environment TEXT NOT NULL, service TEXT NOT NULL, token INTEGER NOT NULL, owner TEXT,
    host TEXT, pid INTEGER, boot_id TEXT, start_ticks REAL, acquired_at REAL, clock_id TEXT,
    expires_at REAL, PRIMARY KEY (environment, service));
INSERT INTO releases (id, environment, service, version, operator, started_at, outcome, last_percent)
    VALUES ('20260101T000000-old', 'sandbox', 'web', '0.9.0', 'carol', 1767225600, 'promoted', 100);
"""


def person(tmp_path: Path, url: str | None = None, name: str = "state") -> Operator:
    operator = Operator(tmp_path / name)
    if url is not None:
        operator.env["PLATFORM_STATE_URL"] = url
    return operator


def test_head_is_the_last_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == schema.HEAD


def test_a_fresh_sqlite_store_is_created_at_the_head_revision(tmp_path: Path) -> None:
    operator = person(tmp_path)
    result = operator.run("history", "--json")
    assert result.returncode == 0, result.stderr
    assert StateStore(f"sqlite:///{operator.state_dir / 'journal.sqlite'}").revision() == schema.HEAD


def test_an_empty_postgres_database_is_refused_until_upgraded(tmp_path: Path, postgres_url: str) -> None:
    operator = person(tmp_path, postgres_url)
    password = parse_url(postgres_url).password
    refused = operator.run("history")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "has no schema" in refused.stderr and "Run `invoke state.upgrade`" in refused.stderr
    upgraded = operator.run("state.upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"empty -> revision {schema.HEAD}" in upgraded.stdout
    again = operator.run("state.upgrade")
    assert f"already at revision {schema.HEAD}" in again.stdout
    assert operator.run("history").returncode == 0
    for output in (refused.stderr, upgraded.stdout, again.stdout):
        assert str(password) not in output and "platform:[secret]@127.0.0.1" in output


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_store_at_the_previous_revision_is_refused_then_upgraded_keeping_its_history(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'state' / 'journal.sqlite'}"
        (tmp_path / "state").mkdir()
    else:
        cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
        url = cluster.new_database()
    previous = StateStore(url)
    previous.upgrade("0001")
    with previous.engine.begin() as connection:  # below the store's schema check, as psql would
        connection.execute(
            text(
                "INSERT INTO releases (id, environment, service, version, operator, started_at, outcome)"
                " VALUES ('r-0001', 'sandbox', 'web', '1.0.0', 'dave', 1767225600, 'promoted')"
            )
        )
    previous.close()
    operator = person(tmp_path, url)
    refused = operator.run("history")
    assert refused.returncode == 3
    assert f"is at schema revision 0001; this version needs revision {schema.HEAD}" in refused.stderr
    upgraded = operator.run("state.upgrade")
    assert upgraded.returncode == 0 and f"revision 0001 -> revision {schema.HEAD}" in upgraded.stdout
    history = operator.run("history", "--json")
    assert history.returncode == 0 and '"version": "1.0.0"' in history.stdout


def test_a_journal_from_before_migrations_is_adopted_by_the_upgrade(tmp_path: Path) -> None:
    operator = person(tmp_path)
    with sqlite3.connect(operator.state_dir / "journal.sqlite") as old:
        old.executescript(PRE_MIGRATION_SCHEMA)
    refused = operator.run("history")
    assert refused.returncode == 3 and "pre-migrations" in refused.stderr
    assert operator.run("state.upgrade").returncode == 0
    history = operator.run("history", "--json")
    assert history.returncode == 0 and '"version": "0.9.0"' in history.stdout
    journal = Journal(operator.state_dir / "journal.sqlite", "erin")
    journal.record("sandbox", "web", EventKind.NOTE, "after-upgrade")  # the added columns are there
    assert [event.action for event in journal.events()] == ["after-upgrade"]


def test_an_unreachable_postgres_is_a_clear_refusal_without_the_password(tmp_path: Path) -> None:
    url = "postgresql://team:s3cret-pa55@127.0.0.1:9/platform"
    result = person(tmp_path, url).run("history")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "the journal postgresql://team:[secret]@127.0.0.1:9/platform could not be read" in result.stderr
    assert "the server could not be reached" in result.stderr
    assert "s3cret-pa55" not in result.stdout + result.stderr


def test_a_postgres_store_held_busy_is_a_clear_refusal(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another session holds the lease table past the busy timeout: the write gives up, naming the
    cause, and writes nothing."""
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_SECONDS", 0.5)
    StateStore(postgres_url).upgrade()
    journal = Journal(postgres_url, "alice")
    busy = subprocess.Popen(
        ["psql", postgres_url, "-c", "BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(3)"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_rows(
            StateStore(postgres_url),
            "SELECT pid FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'events'::regclass",
            timeout=30,
        )
        with pytest.raises(JournalUnavailable, match=r"another process held it for more than 0.5 s"):
            journal.record("sandbox", "web", EventKind.NOTE, "blocked")
    finally:
        busy.wait(timeout=30)
    assert journal.events() == []


# A release's journal write, stopped in the middle of its transaction (holding the lease row).
STOPPED_HOLDER = """
import os, signal, sys
from releases.journal import EventKind, Journal
from releases.lock import ReleaseLock

journal = Journal(sys.argv[1], "alice")
try:
    with ReleaseLock(journal, "sandbox", "web", lease_seconds=1):
        with journal.transaction() as connection:
            journal._insert_event(connection, "sandbox", "web", EventKind.NOTE, "paused", None, {})
            print("writing", flush=True)
            os.kill(os.getpid(), signal.SIGSTOP)
except Exception as error:
    print(type(error).__name__, flush=True)
    sys.exit(1)
"""


def test_a_holder_stopped_in_its_write_is_taken_over_and_told_so_when_it_wakes(
    postgres_url: str,
) -> None:
    """A laptop closed (or a process SIGSTOPped) in the middle of a write held the lease row until
    it woke: every release and rollback on the team's store waited for it, then gave up. Now the
    server ends the stopped transaction, another command takes the lock over, and the holder, on
    waking, is told it was superseded (not that the store failed)."""
    StateStore(postgres_url).upgrade()
    with child_process([sys.executable, "-c", STOPPED_HOLDER, postgres_url]) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "writing\n"
        wait_until_stopped(holder.pid)
        journal = Journal(postgres_url, "bob")
        with ReleaseLock(journal, "sandbox", "web", lease_seconds=60, takeover=True) as lock:
            assert lock.token == 2  # alice held token 1; her lease ran out while she was stopped
        psutil.Process(holder.pid).resume()
        said, _ = holder.communicate(timeout=30)
    assert holder.returncode == 1 and said == "Superseded\n"
    assert [event.action for event in journal.events() if event.action == "paused"] == []


def test_urls_other_than_sqlite_and_postgresql_are_bad_input() -> None:
    with pytest.raises(BadInput, match=r"mysql://u:\[secret\]@db/x is not supported"):
        parse_url("mysql://u:pw@db/x")
    with pytest.raises(BadInput, match="needs a file"):
        parse_url("sqlite://")
    assert parse_url("postgres://u:pw@db/x").drivername == "postgresql+psycopg"


def test_a_write_the_server_ended_while_this_process_was_stopped_says_so() -> None:
    """PostgreSQL's idle-in-transaction timeout (SQLSTATE 25P03), met on waking from a stop with
    the lock still ours: not a store fault to check, a write to rerun."""

    class IdleSessionTimeoutError(Exception):
        sqlstate = "25P03"

    store = StateStore("postgresql://team:pw@127.0.0.1:9/platform")
    why = store._why(IdleSessionTimeoutError("terminating connection due to idle-in-transaction timeout"))
    assert why.startswith("this process was stopped in the middle of a write for more than 5 s")
    assert why.endswith("; rerun")


def test_a_server_that_stops_answering_in_a_write_is_cut_off_after_the_answer_timeout(
    postgres_url: str,
) -> None:
    """A server that no longer answers (stuck on its disk, cut off by the network) kept a write
    waiting as long as TCP retries, or forever for a stopped server, with the command's signals
    postponed for the write: Ctrl-C did nothing. Now the connection is cut after the answer
    timeout, the write fails saying so, and the store serves again once the server answers."""
    StateStore(postgres_url).upgrade()
    store = StateStore(postgres_url, answer_timeout=1)
    with store.read() as connection:
        first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    cut = "the server did not answer within 1 s, so the connection was cut"
    with pytest.raises(JournalUnavailable, match=cut), store.write() as connection, not_answering([first]):
        connection.execute(text("SELECT 1"))
    with store.read() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != first


def test_a_pooled_connection_whose_server_process_stopped_is_replaced_after_the_answer_timeout(
    postgres_url: str,
) -> None:
    """The pool's ping of an idle connection waited for its stopped server process forever; now it
    is cut after the answer timeout, and the write goes through on a new connection."""
    StateStore(postgres_url).upgrade()
    store = StateStore(postgres_url, answer_timeout=1)
    with store.read() as connection:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with not_answering([backend]):
        Journal(store, "alice").record("sandbox", "web", EventKind.NOTE, "written")
        with store.read() as connection:
            serving = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert serving != backend
    assert [event.action for event in Journal(store, "alice").events()] == ["written"]


def test_ctrl_c_after_the_notice_stops_waiting_for_a_server_that_does_not_accept_connections(
    postgres_cluster: PostgresCluster,
    postgres_url: str,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`invoke status` against a team store whose server hangs: a connection being made has no
    socket to cut yet, so it waited for the whole connect timeout whatever the operator pressed.
    Now the press after the notice stops the wait at once."""
    StateStore(postgres_url).upgrade()
    # Longer than the server stays stopped: without the fix the connection is made once it
    # answers again, and the read goes through, given up on or not.
    monkeypatch.setattr(store_module, "CONNECT_TIMEOUT_SECONDS", 300)
    store = StateStore(postgres_url)
    done = threading.Event()

    def operator_presses_ctrl_c() -> None:
        for _ in range(10):
            if done.wait(signals.NOTICE_AFTER_SECONDS + 0.5):
                return
            os.kill(os.getpid(), signal.SIGINT)

    with not_answering([postgres_cluster.process.pid]):  # the server: no new connection is answered
        threading.Thread(target=operator_presses_ctrl_c).start()
        try:
            with signals.interruptible(), pytest.raises(KeyboardInterrupt) as raised, store.read():
                pass
        finally:
            done.set()
    assert "the operator gave up waiting for it" in str(raised.value.__cause__)
    assert "SIGINT again: giving up on the state store." in capfd.readouterr().err
