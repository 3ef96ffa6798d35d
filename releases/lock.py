"""One release per environment and service at a time: a lease in the journal, with fencing tokens.

Every acquisition takes the next fencing token (one counter per environment and service that only
grows) and hands the journal a `Fence`; from then on every journal write checks, inside its own
transaction, that the lease row still carries that token and this process (releases/journal.py).
So a holder that lost its lease writes nothing more, however long it was paused.

A lease is judged by one clock, the store's (releases/state/store.py `clock`): for SQLite the boot's
clock of this machine, which a wall-clock step does not move; for PostgreSQL the database server's,
so machines whose clocks differ never compare them. It is stale when it has expired, when it was
written on another clock (another boot), or when its holder ran on this host (same host name and
boot) and that very process (pid, start ticks) is gone: a crash or `kill -9` leaves no one to
release it, and waiting out the lease would only slow the rerun down. A holder on another host is
judged by its lease alone.

The host a holder is recorded under is the host name, or `PLATFORM_HOST_NAME` when set: for
machines (containers, CI runners) that share a host name, and for the tests that play two machines
on one.

`takeover=True` (what `invoke rollback` asks for) takes the lock from a live holder: the new
token fences the old holder, which stops at its next check; the takeover is journaled with both.

The lease is renewed by every fenced write and by a heartbeat thread between writes. The
heartbeat never dies of a busy journal: it retries, and if the lease lapses meanwhile, a takeover
is what the fence is there for.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

from sqlalchemy import Connection, select, update
from sqlalchemy.exc import SQLAlchemyError

from releases.errors import JournalUnavailable, Refused
from releases.journal import EventKind, Fence, Journal, Note
from releases.process_identity import ProcessIdentity, boot_id, current, is_running
from releases.state.schema import leases

HOST_NAME_VARIABLE = "PLATFORM_HOST_NAME"


def host_name() -> str:
    """The name this machine's lock holders are recorded under."""
    return os.environ.get(HOST_NAME_VARIABLE) or socket.gethostname()


@dataclass(frozen=True)
class LockHolder:
    owner: str
    host: str
    process: ProcessIdentity
    token: int
    acquired_at: float  # wall clock, for people
    clock_id: str
    expires_at: float  # on the lease clock
    # The store's clock when the lease was read: its id and time.
    read_on_clock: str
    read_at: float

    @property
    def pid(self) -> int:
        return self.process.pid

    def lease_left(self) -> float | None:
        """Seconds of lease left on the store's clock (None: written on another clock)."""
        return self.expires_at - self.read_at if self.read_on_clock == self.clock_id else None

    def describe(self) -> str:
        since = time.strftime("%H:%M:%S", time.localtime(self.acquired_at))
        left = self.lease_left()
        lease = f", lease {max(left, 0):.0f} s left" if left is not None else ""
        return f"{self.owner} on {self.host} (pid {self.pid}, token {self.token}) since {since}{lease}"

    def is_stale(self) -> bool:
        left = self.lease_left()
        if left is None or left < 0:
            return True
        on_this_host = self.host == host_name() and self.process.boot_id == boot_id()
        return on_this_host and not is_running(self.process)


def current_holder(
    journal: Journal, environment: str, service: str, connection: Connection | None = None
) -> LockHolder | None:
    """Who holds the lock, read on the store's clock (within `connection`'s transaction if given)."""
    row = journal.lease_row(environment, service, connection)
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
        read_on_clock=row["now_clock_id"],
        read_at=row["now"],
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
        self.host = host_name()
        self.token: int | None = None
        self.previous: LockHolder | None = None  # the live holder a takeover displaced
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def acquire(self) -> None:
        store = self.journal.store
        where = (leases.c.environment == self.environment, leases.c.service == self.service)
        with self.journal.transaction() as connection:
            # The row to lock must exist: a first acquisition creates it at token 0, unheld (two
            # first acquisitions at once: the second waits for the first's row, then finds it held).
            exists = connection.execute(store.lock_row(select(leases.c.token).where(*where))).first()
            if exists is None:
                first = store.upsert(leases).values(
                    environment=self.environment, service=self.service, token=0
                )
                connection.execute(first.on_conflict_do_nothing(index_elements=["environment", "service"]))
                exists = connection.execute(store.lock_row(select(leases.c.token).where(*where))).first()
            assert exists is not None
            holder = current_holder(self.journal, self.environment, self.service, connection)
            live = holder is not None and not holder.is_stale() and holder.process != self.process
            if live and not self.takeover:
                assert holder is not None
                raise Refused(
                    f"a release of {self.service} in {self.environment} is in progress: lock held by "
                    f"{holder.describe()}. Wait for it, or `invoke rollback` to take over and roll back; "
                    "a lease whose holder died is taken over automatically"
                )
            token = exists.token + 1
            self.token = token
            clock_id, now = store.clock(connection)
            connection.execute(
                update(leases)
                .where(*where)
                .values(
                    token=token,
                    owner=self.journal.operator,
                    host=self.host,
                    pid=self.process.pid,
                    boot_id=self.process.boot_id,
                    start_ticks=self.process.start_ticks,
                    acquired_at=time.time(),
                    clock_id=clock_id,
                    expires_at=now + self.lease_seconds,
                )
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
        # Its own connections from the store's pool: a connection is not shared between threads.
        store = self.journal.store
        interval = self.lease_seconds / 3
        while not self._stop.wait(interval):
            try:
                with store.write() as connection:
                    clock_id, now = store.clock(connection)
                    renewed = connection.execute(
                        update(leases)
                        .where(
                            leases.c.environment == self.environment,
                            leases.c.service == self.service,
                            leases.c.token == self.token,
                            leases.c.pid == self.process.pid,
                            leases.c.boot_id == self.process.boot_id,
                            leases.c.start_ticks == self.process.start_ticks,
                        )
                        .values(clock_id=clock_id, expires_at=now + self.lease_seconds)
                    )
                if renewed.rowcount != 1:
                    return  # taken over: the fence stops the main thread at its next check
                interval = self.lease_seconds / 3
            except (JournalUnavailable, SQLAlchemyError):  # busy or unreachable: retry soon, never die
                interval = min(1.0, self.lease_seconds / 10)

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
                update(leases)
                .where(
                    leases.c.environment == self.environment,
                    leases.c.service == self.service,
                    leases.c.token == token,
                    leases.c.pid == self.process.pid,
                )
                .values(owner=None, host=None, pid=None, boot_id=None, start_ticks=None, expires_at=None)
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
