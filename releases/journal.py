"""The durable journal: every release, and every intent and outcome within it, in SQLite.

Intents are written before an action and outcomes after it, so after a crash the journal says
what was being attempted; the live state says what actually happened. The engine trusts the live
state and uses the journal for what cannot be observed: which version is being released, what it
replaces, who started it, and what the gates said.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releases.model import Migration, Outcome, ReleaseRecord

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
CREATE TABLE IF NOT EXISTS locks (
    environment TEXT NOT NULL,
    service TEXT NOT NULL,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    process_started_at REAL NOT NULL,
    acquired_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    PRIMARY KEY (environment, service)
);
"""


@dataclass(frozen=True)
class Event:
    seq: int
    at: float
    environment: str
    service: str
    release_id: str | None
    operator: str
    kind: str
    action: str
    detail: dict[str, Any]


def open_database(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), with WAL so that `status`
    reads while a release writes, and a busy timeout so writers queue instead of failing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.executescript(SCHEMA)
    columns = {row["name"] for row in connection.execute("PRAGMA table_info(releases)")}
    if "migration" not in columns:  # a journal written before releases could carry migrations
        connection.execute("ALTER TABLE releases ADD COLUMN migration TEXT")
    return connection


@contextmanager
def transaction(connection: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE takes the write lock up front, so read-then-write is atomic."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield connection
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


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
    )


class Journal:
    def __init__(self, path: Path, operator: str) -> None:
        self.path = path
        self.operator = operator
        self._connection: sqlite3.Connection | None = None

    @property
    def connection(self) -> sqlite3.Connection:
        if self._connection is None:
            self._connection = open_database(self.path)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def record(
        self,
        environment: str,
        service: str,
        kind: str,
        action: str,
        release_id: str | None = None,
        **detail: Any,
    ) -> None:
        self.connection.execute(
            "INSERT INTO events (at, environment, service, release_id, operator, kind, action, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (time.time(), environment, service, release_id, self.operator, kind, action,
             json.dumps(detail, sort_keys=True, default=str)),
        )  # fmt: skip

    def start_release(
        self,
        environment: str,
        service: str,
        version: str,
        previous_version: str | None,
        migration: Migration | None = None,
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
        )
        with transaction(self.connection) as connection:
            connection.execute(
                "INSERT INTO releases (id, environment, service, version, previous_version, operator,"
                " started_at, migration) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record.id, environment, service, version, previous_version, self.operator,
                 record.started_at, migration.value if migration else None),
            )  # fmt: skip
        self.record(environment, service, "note", "release started", record.id,
                    version=version, previous_version=previous_version,
                    migration=migration.value if migration else None)  # fmt: skip
        return record

    def set_percent(self, record: ReleaseRecord, percent: int) -> None:
        record.last_percent = percent
        self.connection.execute("UPDATE releases SET last_percent = ? WHERE id = ?", (percent, record.id))

    def finish(self, record: ReleaseRecord, outcome: Outcome) -> None:
        record.outcome = outcome
        record.finished_at = time.time()
        self.connection.execute(
            "UPDATE releases SET outcome = ?, finished_at = ? WHERE id = ?",
            (outcome.value, record.finished_at, record.id),
        )
        self.record(record.environment, record.service, "outcome", f"release {outcome.value}", record.id)

    def latest_release(self, environment: str, service: str) -> ReleaseRecord | None:
        row = self.connection.execute(
            "SELECT * FROM releases WHERE environment = ? AND service = ?"
            " ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (environment, service),
        ).fetchone()
        return _release(row) if row else None

    def releases(self, environment: str | None = None, service: str | None = None) -> list[ReleaseRecord]:
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
                kind=row["kind"],
                action=row["action"],
                detail=json.loads(row["detail"]),
            )
            for row in rows
        ]
