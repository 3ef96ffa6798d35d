"""One release per environment and service at a time: a lease in the journal, with fencing tokens.

Every acquisition takes the next fencing token (one counter per environment and service that only
grows) and hands the journal a `Fence`; from then on every journal write checks, inside its own
transaction, that the lease row still carries that token and this process (releases/journal.py).
So a holder that lost its lease writes nothing more, however long it was paused.

A lease is judged by one clock, the journal's (`lease_clock`: the boot's clock, which a wall-clock
step does not move). It is stale when it has expired, when it was written under another boot, or
when its holder ran on this host and that very process (boot, pid, start ticks) is gone: a crash or
`kill -9` leaves no one to release it, and waiting out the lease would only slow the rerun down.

`takeover=True` (what `invoke rollback` asks for) takes the lock from a live holder: the new
token fences the old holder, which stops at its next check; the takeover is journaled with both.

The lease is renewed by every fenced write and by a heartbeat thread between writes. The
heartbeat never dies of a busy journal: it retries, and if the lease lapses meanwhile, a takeover
is what the fence is there for.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from releases.errors import JournalUnavailable, Refused
from releases.journal import EventKind, Fence, Journal, Note, lease_clock, open_database
from releases.process_identity import ProcessIdentity, current, is_running


@dataclass(frozen=True)
class LockHolder:
    owner: str
    host: str
    process: ProcessIdentity
    token: int
    acquired_at: float  # wall clock, for people
    clock_id: str
    expires_at: float  # on the lease clock

    @property
    def pid(self) -> int:
        return self.process.pid

    def lease_left(self) -> float | None:
        """Seconds of lease left on the journal's clock (None: judged on another clock)."""
        clock_id, now = lease_clock()
        return self.expires_at - now if clock_id == self.clock_id else None

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.acquired_at))
        left = self.lease_left()
        lease = f", lease {max(left, 0):.0f} s left" if left is not None else ""
        return f"{self.owner} on {self.host} (pid {self.pid}, token {self.token}) since {since}{lease}"

    def is_stale(self) -> bool:
        left = self.lease_left()
        if left is None or left < 0:
            return True
        return self.host == socket.gethostname() and not is_running(self.process)


def current_holder(journal: Journal, environment: str, service: str) -> LockHolder | None:
    row = journal.lease_row(environment, service)
    if row is None or row["owner"] is None:
        return None
    return LockHolder(
        owner=row["owner"],
        host=row["host"],
        process=ProcessIdentity(row["pid"], row["boot_id"], row["start_ticks"]),
        token=row["token"],
        acquired_at=row["acquired_at"],
        clock_id=row["clock_id"],
        expires_at=row["expires_at"],
    )


class ReleaseLock:
    """Context manager: acquire (or refuse naming the holder), renew while held, release."""

    def __init__(
        self, journal: Journal, environment: str, service: str, lease_seconds: float, takeover: bool = False
    ) -> None:
        self.journal = journal
        self.environment = environment
        self.service = service
        self.lease_seconds = lease_seconds
        self.takeover = takeover
        self.process = current()
        self.host = socket.gethostname()
        self.token: int | None = None
        self.previous: LockHolder | None = None  # the live holder a takeover displaced
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def acquire(self) -> None:
        with self.journal.transaction() as connection:
            holder = current_holder(self.journal, self.environment, self.service)
            live = holder is not None and not holder.is_stale() and holder.process != self.process
            if live and not self.takeover:
                assert holder is not None
                raise Refused(
                    f"a release of {self.service} in {self.environment} is in progress: lock held by "
                    f"{holder.describe()}. Wait for it, or `invoke rollback` to take over and roll back; "
                    "a lease whose holder died is taken over automatically"
                )
            row = connection.execute(
                "SELECT token FROM leases WHERE environment = ? AND service = ?",
                (self.environment, self.service),
            ).fetchone()
            token = (row["token"] if row is not None else 0) + 1
            self.token = token
            clock_id, now = lease_clock()
            connection.execute(
                "INSERT OR REPLACE INTO leases (environment, service, token, owner, host, pid, boot_id,"
                " start_ticks, acquired_at, clock_id, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.environment,
                    self.service,
                    token,
                    self.journal.operator,
                    self.host,
                    self.process.pid,
                    self.process.boot_id,
                    self.process.start_ticks,
                    time.time(),
                    clock_id,
                    now + self.lease_seconds,
                ),
            )
        self.journal.fence = Fence(self.environment, self.service, token, self.process, self.lease_seconds)
        if holder is not None and holder.process != self.process:
            self.previous = holder if live else None
            self.journal.record(
                self.environment,
                self.service,
                EventKind.NOTE,
                Note.LOCK_TAKEN_OVER,
                previous_holder=holder.describe(),
                previous_token=holder.token,
                new_token=token,
                live=live,
            )

    def _renew_until_stopped(self) -> None:
        # A connection of its own: sqlite3 connections are not shared between threads.
        connection = None
        interval = self.lease_seconds / 3
        while not self._stop.wait(interval):
            try:
                connection = connection or open_database(self.journal.path)
                clock_id, now = lease_clock()
                cursor = connection.execute(
                    "UPDATE leases SET clock_id = ?, expires_at = ? WHERE environment = ? AND service = ?"
                    " AND token = ? AND pid = ? AND boot_id = ? AND start_ticks = ?",
                    (
                        clock_id,
                        now + self.lease_seconds,
                        self.environment,
                        self.service,
                        self.token,
                        self.process.pid,
                        self.process.boot_id,
                        self.process.start_ticks,
                    ),
                )
                if cursor.rowcount != 1:
                    return  # taken over: the fence stops the main thread at its next check
                interval = self.lease_seconds / 3
            except (JournalUnavailable, sqlite3.Error):  # busy or full: retry soon, never die silently
                interval = min(1.0, self.lease_seconds / 10)
        if connection is not None:
            connection.close()

    def release(self) -> None:
        """Free the lease if it is still ours; a lock taken over is left to its new holder."""
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        self.journal.fence = None
        if self.token is None:
            return
        token, self.token = self.token, None  # released once, however often asked
        with self.journal.transaction() as connection:
            connection.execute(
                "UPDATE leases SET owner = NULL, host = NULL, pid = NULL, boot_id = NULL, start_ticks = NULL,"
                " expires_at = NULL WHERE environment = ? AND service = ? AND token = ? AND pid = ?",
                (self.environment, self.service, token, self.process.pid),
            )

    def __enter__(self) -> ReleaseLock:
        self.acquire()
        self._heartbeat = threading.Thread(target=self._renew_until_stopped, name="lease", daemon=True)
        self._heartbeat.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
