"""The durable journal: every release, and every intent and outcome within it, in the state store
(releases/state/: SQLite under the state directory, or PostgreSQL shared by a team).

Intents are written before an action and outcomes after it, so after a crash the journal says
what was being attempted; the live state says what actually happened. The engine trusts the live
state and uses the journal for what cannot be observed: which version is being released, what it
replaces, who started it, what the gates said and why a release is held.

Fencing: while a process holds the release lock (releases/lock.py) its journal carries a `Fence`,
and every write opens with a check, inside the same transaction, that the lease row still carries
that fencing token and that process (on PostgreSQL it locks that row, `SELECT ... FOR UPDATE`, so a
takeover waits for the write or the write for the takeover). A holder that was paused, slowed or
taken over writes nothing more: the check fails before its intent is journaled, so before the
action it announces.

Events are typed: a kind (`EventKind`) and an action id (a `releases.plan.Step` or a `Note`), both
stable ids; what people read is derived from them (and from the action's description).
"""

from __future__ import annotations

import enum
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, RowMapping, func, insert, select, update

from releases.errors import JournalUnavailable, Superseded
from releases.model import HoldReason, Migration, Outcome, ReleaseRecord
from releases.process_identity import ProcessIdentity
from releases.state.schema import events, leases, releases
from releases.state.store import BUSY_TIMEOUT_SECONDS, StateStore, local_clock

__all__ = ["BUSY_TIMEOUT_SECONDS", "Event", "EventKind", "Fence", "Journal", "Note", "lease_clock"]

# The boot clock a SQLite store judges leases by (the store's `clock` picks the right one).
lease_clock = local_clock


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
    RESUMED = "resumed"  # a held release moved on (by a new step, or `invoke resume`)
    # Operator controls, written from any shell without the lock (releases/controls.py); the
    # running release reads them at its next check.
    PROMOTE_REQUESTED = "promote-requested"
    PAUSE_REQUESTED = "pause-requested"
    RESUME_REQUESTED = "resume-requested"
    # A promote that reached the release after the step it was asked at had ended: not applied.
    PROMOTE_STALE = "promote-stale"
    STEPS_SKIPPED = "steps-skipped"  # `promote --full`: the canary steps left out, journaled
    BAKE_PROGRESS = "bake-progress"  # a running bake's figures so far, for `status --watch`


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


def _release(row: RowMapping) -> ReleaseRecord:
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
    """The journal of one operator over a state store (a `StateStore`, its URL, or for the local
    default a SQLite file's path)."""

    def __init__(self, store: StateStore | str | Path, operator: str) -> None:
        if isinstance(store, Path):
            store = f"sqlite:///{store}"
        self.store = StateStore(store) if isinstance(store, str) else store
        self.operator = operator
        # Set by the lock while this process holds it: every write is then fenced.
        self.fence: Fence | None = None

    @property
    def path(self) -> Path | None:
        """The SQLite file (None for a PostgreSQL store)."""
        return self.store.path

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (on SQLite it takes the write lock up front, so read-then-write is
        atomic); with a fence, the first statement checks it (and renews the lease: the holder is
        demonstrably alive)."""
        try:
            with self.store.write() as connection:
                if self.fence is not None:
                    self._check_fence(connection, self.fence, renew=True)
                yield connection
        except JournalUnavailable as unavailable:
            # A holder stopped in the middle of a write (SIGSTOP, a frozen VM) wakes to find its
            # transaction ended by the server and its lock taken over: that is what to say. If the
            # fence cannot be read either, the write's own error is the one to report.
            try:
                self.check_fence()
            except JournalUnavailable:
                raise unavailable from None
            raise

    def check_fence(self) -> None:
        """Raise `Superseded` when this process no longer holds the lock it acquired (a read: for
        the checks between writes, such as every analysis interval of a bake)."""
        if self.fence is not None:
            with self.store.read() as connection:
                self._check_fence(connection, self.fence, renew=False)

    def _check_fence(self, connection: Connection, fence: Fence, renew: bool) -> None:
        query = select(leases).where(
            leases.c.environment == fence.environment, leases.c.service == fence.service
        )
        if renew:  # the write that follows must not race a takeover
            query = self.store.lock_row(query)
        row = connection.execute(query).mappings().first()
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
            clock_id, now_on_clock = self.store.clock(connection)
            connection.execute(
                update(leases)
                .where(
                    leases.c.environment == fence.environment,
                    leases.c.service == fence.service,
                    leases.c.token == fence.token,
                )
                .values(clock_id=clock_id, expires_at=now_on_clock + fence.lease_seconds)
            )

    def _insert_event(
        self,
        connection: Connection,
        environment: str,
        service: str,
        kind: EventKind,
        action: str,
        release_id: str | None,
        detail: dict[str, Any],
    ) -> None:
        connection.execute(
            insert(events).values(
                at=time.time(),
                environment=environment,
                service=service,
                release_id=release_id,
                operator=self.operator,
                kind=kind.value,
                action=str(action),
                detail=json.dumps(detail, sort_keys=True, default=str),
                token=self.fence.token if self.fence is not None else None,
            )
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
                insert(releases).values(
                    id=record.id,
                    environment=environment,
                    service=service,
                    version=version,
                    previous_version=previous_version,
                    operator=self.operator,
                    started_at=record.started_at,
                    migration=migration.value if migration else None,
                    reason=reason,
                )
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

    def _update(self, connection: Connection, record: ReleaseRecord, **values: Any) -> None:
        connection.execute(update(releases).where(releases.c.id == record.id).values(**values))

    def set_percent(self, record: ReleaseRecord, percent: int) -> None:
        with self.transaction() as connection:
            self._update(connection, record, last_percent=percent)
        record.last_percent = percent

    def hold(self, record: ReleaseRecord, reason: HoldReason, detail: str, **figures: Any) -> None:
        """The release stays in flight, traffic unchanged, until an operator moves it on."""
        with self.transaction() as connection:
            self._update(connection, record, hold=reason.value, hold_detail=detail)
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

    def resume(self, record: ReleaseRecord, **detail: Any) -> None:
        """A held release moves on (its next step starts, or its bake goes on)."""
        if record.hold is None:
            return
        with self.transaction() as connection:
            self._update(connection, record, hold=None, hold_detail=None)
            self._insert_event(
                connection,
                record.environment,
                record.service,
                EventKind.NOTE,
                Note.RESUMED,
                record.id,
                {"hold": record.hold.value, **detail},
            )
        record.hold, record.hold_detail = None, None

    def finish(self, record: ReleaseRecord, outcome: Outcome, **detail: Any) -> None:
        finished_at = time.time()
        with self.transaction() as connection:
            self._update(
                connection,
                record,
                outcome=outcome.value,
                finished_at=finished_at,
                hold=None,
                hold_detail=None,
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

    def lease_row(
        self, environment: str, service: str, connection: Connection | None = None
    ) -> dict[str, Any] | None:
        """The lease row, with `now` and `now_clock_id`: the store's clock read in the same
        transaction, so that a lease is judged on the store's clock."""
        if connection is None:
            with self.store.read() as reading:
                return self.lease_row(environment, service, reading)
        query = select(leases).where(leases.c.environment == environment, leases.c.service == service)
        row = connection.execute(query).mappings().first()
        if row is None:
            return None
        clock_id, now = self.store.clock(connection)
        return {**row, "now": now, "now_clock_id": clock_id}

    def release(self, release_id: str) -> ReleaseRecord | None:
        with self.store.read() as connection:
            row = connection.execute(select(releases).where(releases.c.id == release_id)).mappings().first()
        return _release(row) if row else None

    def latest_release(self, environment: str, service: str) -> ReleaseRecord | None:
        with self.store.read() as connection:
            row = (
                connection.execute(
                    select(releases)
                    .where(releases.c.environment == environment, releases.c.service == service)
                    .order_by(releases.c.started_at.desc(), releases.c.id.desc())
                    .limit(1)
                )
                .mappings()
                .first()
            )
        return _release(row) if row else None

    def releases(self, environment: str | None = None, service: str | None = None) -> list[ReleaseRecord]:
        query = select(releases).order_by(releases.c.started_at, releases.c.id)
        if environment is not None:
            query = query.where(releases.c.environment == environment)
        if service is not None:
            query = query.where(releases.c.service == service)
        with self.store.read() as connection:
            rows = connection.execute(query).mappings().all()
        return [_release(row) for row in rows]

    def abandon_in_flight(self, environment: str) -> int:
        """Close every unfinished release of an environment that was torn down."""
        in_flight = [r for r in self.releases(environment) if r.in_flight]
        for record in in_flight:
            self.finish(record, Outcome.ABANDONED)
        return len(in_flight)

    def last_seq(self) -> int:
        """The newest event's sequence number (0 for an empty journal): a command's controls are
        the ones journaled after it took the lock, never an old request meant for another run."""
        with self.store.read() as connection:
            return int(connection.execute(select(func.max(events.c.seq))).scalar() or 0)

    def events_after(self, environment: str, service: str, seq: int, actions: tuple[str, ...]) -> list[Event]:
        """The events of `actions` for one environment and service after `seq`, oldest first."""
        query = (
            select(events)
            .where(
                events.c.environment == environment,
                events.c.service == service,
                events.c.seq > seq,
                events.c.action.in_([str(action) for action in actions]),
            )
            .order_by(events.c.seq)
        )
        with self.store.read() as connection:
            return [_event(row) for row in connection.execute(query).mappings().all()]

    def latest_event(
        self, release_id: str, actions: tuple[str, ...], kind: EventKind | None = None
    ) -> Event | None:
        """A release's newest event among `actions` (of `kind`, if given): one row, as `status
        --watch` asks every second."""
        query = select(events).where(
            events.c.release_id == release_id, events.c.action.in_([str(a) for a in actions])
        )
        if kind is not None:
            query = query.where(events.c.kind == kind.value)
        query = query.order_by(events.c.seq.desc()).limit(1)
        with self.store.read() as connection:
            row = connection.execute(query).mappings().first()
        return _event(row) if row is not None else None

    def events(self, release_id: str | None = None) -> list[Event]:
        """The events of one release (or, with None, every event), oldest first: any shell sharing
        the store reads the gate figures a running release publishes here."""
        query = select(events).order_by(events.c.seq)
        if release_id is not None:
            query = query.where(events.c.release_id == release_id)
        with self.store.read() as connection:
            rows = connection.execute(query).mappings().all()
        return [_event(row) for row in rows]


def _event(row: RowMapping) -> Event:
    return Event(
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
