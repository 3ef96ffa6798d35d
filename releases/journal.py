"""The durable journal: every release, and every intent and outcome within it, in SQLite.

Intents are written before an action and outcomes after it, so after a crash the journal says
what was being attempted; the live state says what actually happened. The engine trusts the live
state and uses the journal for what cannot be observed: which version is being released, what it
replaces, who started it, what the gates said and why a release is held.

Fencing: while a process holds the release lock (releases/lock.py) its journal carries a `Fence`,
and every write opens with a check, inside the same transaction, that the lease row still carries
that fencing token and that process. A holder that was paused, slowed or taken over writes
nothing more: the check fails before its intent is journaled, so before the action it announces.

Events are typed: a kind (`EventKind`) and an action id (a `releases.plan.Step` or a `Note`), both
stable ids; what people read is derived from them (and from the action's description).
"""

from __future__ import annotations

import enum
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releases.errors import JournalUnavailable, Superseded
from releases.model import HoldReason, Migration, Outcome, ReleaseRecord
from releases.process_identity import ProcessIdentity, boot_id

# How long a write waits for another writer before the journal is reported busy.
BUSY_TIMEOUT_SECONDS = 10.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS releases (
    id TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    previous_version TEXT,
    operator TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    outcome TEXT,
    last_percent INTEGER,
    migration TEXT
);
CREATE INDEX IF NOT EXISTS releases_by_target ON releases (environment, service, started_at);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    environment TEXT NOT NULL,
    service TEXT NOT NULL,
    release_id TEXT,
    operator TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('intent', 'outcome', 'gate', 'note')),
    action TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    environment TEXT NOT NULL,
    service TEXT NOT NULL,
    token INTEGER NOT NULL,
    owner TEXT,
    host TEXT,
    pid INTEGER,
    boot_id TEXT,
    start_ticks REAL,
    acquired_at REAL,
    clock_id TEXT,
    expires_at REAL,
    PRIMARY KEY (environment, service)
);
"""
# Columns added since the first journals: added on open, so an older journal keeps its history.
ADDED_COLUMNS = {
    "releases": {"migration": "TEXT", "hold": "TEXT", "hold_detail": "TEXT", "reason": "TEXT"},
    "events": {"token": "INTEGER"},
}


class EventKind(enum.StrEnum):
    INTENT = "intent"  # journaled before an action
    OUTCOME = "outcome"  # after it, once read back
    GATE = "gate"  # a gate's verdict with its figures
    NOTE = "note"  # anything else worth keeping (see Note)


class Note(enum.StrEnum):
    """Ids of note events (and of the release's own outcome event)."""

    RELEASE_STARTED = "release-started"
    RELEASE_FINISHED = "release-finished"
    LOCK_TAKEN_OVER = "lock-taken-over"
    INTERRUPTED = "interrupted"
    HELD = "held"
    FORCED = "forced"
    SUPERSEDED = "superseded"  # a release closed, untouched by traffic, for a newer version
    REFUSED = "refused"
    IMAGE = "image"  # the image a release pinned by digest
    NOTIFY = "notify"
    DEPLOYMENT_LOG = "deployment-log"


@dataclass(frozen=True)
class Event:
    seq: int
    at: float
    environment: str
    service: str
    release_id: str | None
    operator: str
    kind: EventKind
    action: str  # a Step or Note id
    detail: dict[str, Any]
    token: int | None = None  # the fencing token of the lock holder that wrote it


@dataclass(frozen=True)
class Fence:
    """What a lock holder's writes must find still true in the lease row."""

    environment: str
    service: str
    token: int
    holder: ProcessIdentity
    lease_seconds: float


def lease_clock() -> tuple[str, float]:
    """The clock leases are judged by: (its id, now). For a journal on this machine that is the
    boot's own clock, seconds since boot read from /proc/uptime, which neither a wall-clock step
    nor a process's faked time (libfaketime) moves. Its id is the boot id: a lease written under
    another boot is over (every process of that boot is gone)."""
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # no /proc: the monotonic clock, also boot-relative
        uptime = time.monotonic()
    return boot_id(), uptime


@contextmanager
def _faults(path: Path) -> Iterator[None]:
    """sqlite3's errors as an operator-facing refusal: what failed, why, and what to do."""
    try:
        yield
    except sqlite3.Error as error:
        text = str(error)
        if "locked" in text or "busy" in text:
            why = (
                f"another process held it for more than {BUSY_TIMEOUT_SECONDS:g} s ({text}); wait for it "
                "and rerun"
            )
        elif "full" in text:
            why = f"the disk or the database is full ({text}); free space and rerun"
        else:
            why = f"{text}; check the file and rerun"
        raise JournalUnavailable(
            f"the journal {path} could not be read or written: {why}. Nothing was done after the last "
            "journaled step; the same command resumes from the live state"
        ) from None


def open_database(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), with WAL so that `status`
    reads while a release writes, and a busy timeout so writers queue instead of failing."""
    with _faults(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.executescript(SCHEMA)
        for table, columns in ADDED_COLUMNS.items():
            present = {row["name"] for row in connection.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns.items():
                if name not in present:
                    connection.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    return connection


def _release(row: sqlite3.Row) -> ReleaseRecord:
    return ReleaseRecord(
        id=row["id"],
        environment=row["environment"],
        service=row["service"],
        version=row["version"],
        previous_version=row["previous_version"],
        operator=row["operator"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        outcome=Outcome(row["outcome"]) if row["outcome"] else None,
        last_percent=row["last_percent"],
        migration=Migration(row["migration"]) if row["migration"] else None,
        hold=HoldReason(row["hold"]) if row["hold"] else None,
        hold_detail=row["hold_detail"],
        reason=row["reason"],
    )


class Journal:
    def __init__(self, path: Path, operator: str) -> None:
        self.path = path
        self.operator = operator
        self._connection: sqlite3.Connection | None = None
        # Set by the lock while this process holds it: every write is then fenced.
        self.fence: Fence | None = None

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = open_database(self.path)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so read-then-write is atomic; with a
        fence, the first statement checks it (and renews the lease: the holder is demonstrably
        alive)."""
        with _faults(self.path):
            connection = self.connection
            connection.execute("BEGIN IMMEDIATE")
            try:
                if self.fence is not None:
                    self._check_fence(connection, self.fence, renew=True)
                yield connection
            except BaseException:
                if connection.in_transaction:  # SQLite already rolled back after SQLITE_FULL
                    connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def check_fence(self) -> None:
        """Raise `Superseded` when this process no longer holds the lock it acquired (a read: for
        the checks between writes, such as every analysis interval of a bake)."""
        if self.fence is not None:
            with _faults(self.path):
                self._check_fence(self.connection, self.fence, renew=False)

    @staticmethod
    def _check_fence(connection: sqlite3.Connection, fence: Fence, renew: bool) -> None:
        row = connection.execute(
            "SELECT * FROM leases WHERE environment = ? AND service = ?", (fence.environment, fence.service)
        ).fetchone()
        holder = fence.holder
        if (
            row is None
            or row["token"] != fence.token
            or (row["pid"], row["boot_id"], row["start_ticks"])
            != (holder.pid, holder.boot_id, holder.start_ticks)
        ):
            now = row["token"] if row is not None else None
            by = (
                f"{row['owner']} on {row['host']} (pid {row['pid']})"
                if row is not None and row["owner"]
                else None
            )
            raise Superseded(
                f"this command's lock on {fence.service} in {fence.environment} (token {fence.token}) is no "
                f"longer current"
                + (f": {by} holds token {now}" if by else f": a later holder took token {now} (and let go)")
                + "; it stopped before its next write. See `invoke status`"
            )
        if renew:
            clock_id, now_on_clock = lease_clock()
            connection.execute(
                "UPDATE leases SET clock_id = ?, expires_at = ? WHERE environment = ? AND service = ?"
                " AND token = ?",
                (clock_id, now_on_clock + fence.lease_seconds, fence.environment, fence.service, fence.token),
            )

    def _insert_event(
        self,
        connection: sqlite3.Connection,
        environment: str,
        service: str,
        kind: EventKind,
        action: str,
        release_id: str | None,
        detail: dict[str, Any],
    ) -> None:
        token = self.fence.token if self.fence is not None else None
        connection.execute(
            "INSERT INTO events (at, environment, service, release_id, operator, kind, action, detail, token)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                environment,
                service,
                release_id,
                self.operator,
                kind.value,
                str(action),
                json.dumps(detail, sort_keys=True, default=str),
                token,
            ),
        )

    def record(
        self,
        environment: str,
        service: str,
        kind: EventKind,
        action: str,
        release_id: str | None = None,
        **detail: Any,
    ) -> None:
        with self.transaction() as connection:
            self._insert_event(connection, environment, service, kind, action, release_id, detail)

    def start_release(
        self,
        environment: str,
        service: str,
        version: str,
        previous_version: str | None,
        migration: Migration | None = None,
        reason: str | None = None,
    ) -> ReleaseRecord:
        record = ReleaseRecord(
            id=f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}",
            environment=environment,
            service=service,
            version=version,
            previous_version=previous_version,
            operator=self.operator,
            started_at=time.time(),
            migration=migration,
            reason=reason,
        )
        with self.transaction() as connection:
            connection.execute(
                "INSERT INTO releases (id, environment, service, version, previous_version, operator,"
                " started_at, migration, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    environment,
                    service,
                    version,
                    previous_version,
                    self.operator,
                    record.started_at,
                    migration.value if migration else None,
                    reason,
                ),
            )
            detail = {
                "version": version,
                "previous_version": previous_version,
                "migration": migration.value if migration else None,
                "reason": reason,
            }
            self._insert_event(
                connection, environment, service, EventKind.NOTE, Note.RELEASE_STARTED, record.id, detail
            )
        return record

    def set_percent(self, record: ReleaseRecord, percent: int) -> None:
        with self.transaction() as connection:
            connection.execute("UPDATE releases SET last_percent = ? WHERE id = ?", (percent, record.id))
        record.last_percent = percent

    def hold(self, record: ReleaseRecord, reason: HoldReason, detail: str, **figures: Any) -> None:
        """The release stays in flight, traffic unchanged, until an operator moves it on."""
        with self.transaction() as connection:
            connection.execute(
                "UPDATE releases SET hold = ?, hold_detail = ? WHERE id = ?",
                (reason.value, detail, record.id),
            )
            self._insert_event(
                connection,
                record.environment,
                record.service,
                EventKind.NOTE,
                Note.HELD,
                record.id,
                {"hold": reason.value, "detail": detail, **figures},
            )
        record.hold, record.hold_detail = reason, detail

    def resume(self, record: ReleaseRecord) -> None:
        """A held release moves on (its next step starts)."""
        if record.hold is None:
            return
        with self.transaction() as connection:
            connection.execute(
                "UPDATE releases SET hold = NULL, hold_detail = NULL WHERE id = ?", (record.id,)
            )
        record.hold, record.hold_detail = None, None

    def finish(self, record: ReleaseRecord, outcome: Outcome, **detail: Any) -> None:
        finished_at = time.time()
        with self.transaction() as connection:
            connection.execute(
                "UPDATE releases SET outcome = ?, finished_at = ?, hold = NULL, hold_detail = NULL"
                " WHERE id = ?",
                (outcome.value, finished_at, record.id),
            )
            self._insert_event(
                connection,
                record.environment,
                record.service,
                EventKind.OUTCOME,
                Note.RELEASE_FINISHED,
                record.id,
                {"outcome": outcome.value, **detail},
            )
        record.outcome, record.finished_at = outcome, finished_at
        record.hold = record.hold_detail = None

    def lease_row(self, environment: str, service: str) -> sqlite3.Row | None:
        with _faults(self.path):
            return self.connection.execute(
                "SELECT * FROM leases WHERE environment = ? AND service = ?", (environment, service)
            ).fetchone()

    def release(self, release_id: str) -> ReleaseRecord | None:
        with _faults(self.path):
            row = self.connection.execute("SELECT * FROM releases WHERE id = ?", (release_id,)).fetchone()
        return _release(row) if row else None

    def latest_release(self, environment: str, service: str) -> ReleaseRecord | None:
        with _faults(self.path):
            row = self.connection.execute(
                "SELECT * FROM releases WHERE environment = ? AND service = ?"
                " ORDER BY started_at DESC, rowid DESC LIMIT 1",
                (environment, service),
            ).fetchone()
        return _release(row) if row else None

    def releases(self, environment: str | None = None, service: str | None = None) -> list[ReleaseRecord]:
        with _faults(self.path):
            rows = self.connection.execute(
                "SELECT * FROM releases WHERE (? IS NULL OR environment = ?) AND (? IS NULL OR service = ?)"
                " ORDER BY started_at, rowid",
                (environment, environment, service, service),
            ).fetchall()
        return [_release(row) for row in rows]

    def abandon_in_flight(self, environment: str) -> int:
        """Close every unfinished release of an environment that was torn down."""
        in_flight = [r for r in self.releases(environment) if r.in_flight]
        for record in in_flight:
            self.finish(record, Outcome.ABANDONED)
        return len(in_flight)

    def events(self, release_id: str) -> list[Event]:
        with _faults(self.path):
            rows = self.connection.execute(
                "SELECT * FROM events WHERE release_id = ? ORDER BY seq", (release_id,)
            ).fetchall()
        return [
            Event(
                seq=row["seq"],
                at=row["at"],
                environment=row["environment"],
                service=row["service"],
                release_id=row["release_id"],
                operator=row["operator"],
                kind=EventKind(row["kind"]),
                action=row["action"],
                detail=json.loads(row["detail"]),
                token=row["token"],
            )
            for row in rows
        ]
