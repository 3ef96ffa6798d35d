"""One release per environment and service at a time: a lease-based lock in the journal database.

The holder renews its lease from a background thread while it works. A lease is stale when it
has expired, or when its holder ran on this host and that process is gone (a crash or `kill -9`
leaves no one to release it, and waiting out the lease would only slow the rerun down). A stale
lease is taken over, and the takeover is journaled.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import psutil

from releases.errors import Refused
from releases.journal import Journal, open_database, transaction
from releases.process_identity import running_process


@dataclass(frozen=True)
class LockHolder:
    owner: str
    host: str
    pid: int
    process_started_at: float
    acquired_at: float
    expires_at: float

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.acquired_at))
        until = time.strftime("%H:%M:%S", time.localtime(self.expires_at))
        return f"{self.owner} on {self.host} (pid {self.pid}) since {since}, lease until {until}"

    def is_stale(self, now: float) -> bool:
        if self.expires_at < now:
            return True
        return (
            self.host == socket.gethostname() and running_process(self.pid, self.process_started_at) is None
        )


def current_holder(journal: Journal, environment: str, service: str) -> LockHolder | None:
    row = journal.connection.execute(
        "SELECT * FROM locks WHERE environment = ? AND service = ?", (environment, service)
    ).fetchone()
    if row is None:
        return None
    return LockHolder(
        owner=row["owner"],
        host=row["host"],
        pid=row["pid"],
        process_started_at=row["process_started_at"],
        acquired_at=row["acquired_at"],
        expires_at=row["expires_at"],
    )


class ReleaseLock:
    """Context manager: acquire (or refuse naming the holder), renew while held, release."""

    def __init__(self, journal: Journal, environment: str, service: str, lease_seconds: float) -> None:
        self.journal = journal
        self.environment = environment
        self.service = service
        self.lease_seconds = lease_seconds
        self.pid = psutil.Process().pid
        self.process_started_at = psutil.Process().create_time()
        self.host = socket.gethostname()
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None
        self.lost = False

    def acquire(self) -> None:
        now = time.time()
        with transaction(self.journal.connection) as connection:
            holder = current_holder(self.journal, self.environment, self.service)
            if holder is not None and not holder.is_stale(now) and not self._is_mine(holder):
                raise Refused(
                    f"a release of {self.service} in {self.environment} is in progress: lock held by "
                    f"{holder.describe()}. Wait for it to finish; a lease whose holder died is taken "
                    "over automatically."
                )
            connection.execute(
                "INSERT OR REPLACE INTO locks (environment, service, owner, host, pid, process_started_at,"
                " acquired_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self.environment, self.service, self.journal.operator, self.host, self.pid,
                 self.process_started_at, now, now + self.lease_seconds),
            )  # fmt: skip
        if holder is not None and not self._is_mine(holder):
            self.journal.record(self.environment, self.service, "note", "stale lock taken over",
                                previous_holder=holder.describe())  # fmt: skip

    def _is_mine(self, holder: LockHolder) -> bool:
        return holder.host == self.host and holder.pid == self.pid

    def ensure_held(self) -> None:
        """Called before every write: a lock lost to a takeover means someone else is in charge."""
        if self.lost:
            raise Refused(
                f"the lock on {self.service} in {self.environment} was lost (lease not renewed in time);"
                " stopping before the next write"
            )

    def _renew_until_stopped(self) -> None:
        # A connection of its own: sqlite3 connections are not shared between threads.
        connection = open_database(self.journal.path)
        try:
            while not self._stop.wait(self.lease_seconds / 3):
                cursor = connection.execute(
                    "UPDATE locks SET expires_at = ? WHERE environment = ? AND service = ? AND host = ?"
                    " AND pid = ?",
                    (time.time() + self.lease_seconds, self.environment, self.service, self.host, self.pid),
                )
                if cursor.rowcount != 1:
                    self.lost = True
                    return
        finally:
            connection.close()

    def release(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        self.journal.connection.execute(
            "DELETE FROM locks WHERE environment = ? AND service = ? AND host = ? AND pid = ?",
            (self.environment, self.service, self.host, self.pid),
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
