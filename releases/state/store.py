"""The state store, chosen by URL: `sqlite:///path` (the default, under the state directory) or
`postgresql://user:password@host/database` for a team.

One schema for both (releases/state/schema.py), owned by Alembic (`invoke state.upgrade`). At first
use the store checks the schema's revision: a brand-new SQLite file is created at the head revision
(a fresh clone needs no extra command), anything older is refused with the command to run.

What differs between the two lives here and nowhere else:

- transactions: SQLite takes its write lock up front (`BEGIN IMMEDIATE`), so read-then-write is
  atomic; PostgreSQL locks the rows it reads for update (`lock_row`);
- waiting: SQLite's busy timeout, PostgreSQL's `lock_timeout` and `statement_timeout`; either way
  a store that stays busy (or is full, or unreachable) becomes `JournalUnavailable`, naming the store
  without its password (and, on SQLite, the process that holds it);
- a writer stopped mid-transaction: PostgreSQL ends its transaction after
  `idle_in_transaction_session_timeout`; a SQLite file stays locked until the process is resumed
  (the tool itself postpones Ctrl-Z past its writes, releases/signals.py);
- a server that does not answer (stopped, stuck on its disk, cut off by the network): on PostgreSQL
  every operation has `ANSWER_TIMEOUT_SECONDS`, after which its connection is cut, and a second
  SIGINT or SIGTERM during a write gives up on the server at once (`abandon`); a SQLite file's
  waits are bounded by its busy timeout;
- the lease clock (`clock`): the boot's clock for SQLite on this machine, the database server's
  clock for PostgreSQL, so that machines never compare their own clocks.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
import time
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from releases import signals
from releases.errors import BadInput, JournalUnavailable, Refused
from releases.process_identity import boot_id
from releases.redact import MASK, mask, redact_url
from releases.state import schema
from releases.state.holders import describe_holders

# How long a write waits for another writer before the store is reported busy.
BUSY_TIMEOUT_SECONDS = 10.0
# PostgreSQL: how long a statement may run, and how long to wait for the server to answer at all.
STATEMENT_TIMEOUT_SECONDS = 30.0
# PostgreSQL: a transaction left idle this long is ended by the server. Every transaction here is
# a few statements back to back, so only a client stopped in the middle of one (SIGSTOP, a frozen
# VM, a laptop lid closed) gets there: its row locks are freed before anyone else's write gives up
# waiting for them (BUSY_TIMEOUT_SECONDS), and its commit, when it wakes up, fails.
IDLE_IN_TRANSACTION_SECONDS = BUSY_TIMEOUT_SECONDS / 2
CONNECT_TIMEOUT_SECONDS = 10
# PostgreSQL: the longest an operation waits for the server before its connection is cut. The server
# ends a statement at STATEMENT_TIMEOUT_SECONDS itself; one that cannot answer at all (stopped,
# stuck on its disk, cut off by the network) would otherwise keep the command waiting as long as TCP
# retries (a quarter of an hour) or forever, with its signals postponed for the write.
ANSWER_TIMEOUT_SECONDS = STATEMENT_TIMEOUT_SECONDS + 5
# How often the answer timeouts are checked (so a cut comes up to this much after its deadline).
WATCHDOG_INTERVAL_SECONDS = 0.5
POSTGRES_CLOCK_ID = "postgresql-server"
UPGRADE_COMMAND = "invoke state.upgrade"
SCHEMA_TABLES = ("releases", "events", "leases")


def parse_url(url: str) -> URL:
    """The URL as SQLAlchemy needs it: `postgresql://` (and `postgres://`) use psycopg 3, the
    driver this project installs. Anything but SQLite and PostgreSQL is bad input."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise BadInput(
            "the state URL is not a URL: expected sqlite:///path or postgresql://user:password@host/db"
        ) from None
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif parsed.drivername != "sqlite":
        shown = redact_url(parsed.render_as_string(hide_password=False))
        raise BadInput(f"the state URL {shown} is not supported: use sqlite:///path or postgresql://...")
    if parsed.drivername == "sqlite" and not parsed.database:
        raise BadInput("a SQLite state URL needs a file: sqlite:///path/to/journal.sqlite")
    return parsed


class StateStore:
    def __init__(self, url: str | URL, answer_timeout: float = ANSWER_TIMEOUT_SECONDS) -> None:
        self.url = parse_url(url) if isinstance(url, str) else url
        self.is_postgres = self.url.get_backend_name() == "postgresql"
        self.answer_timeout = answer_timeout
        self._engine: Engine | None = None
        self._checked = False
        self._sockets = _Sockets()
        self._given_up: str | None = None

    def __str__(self) -> str:
        return self.display

    @property
    def display(self) -> str:
        """The URL as it may be shown and journaled: never its password."""
        if not self.is_postgres:
            return str(self.path)
        return redact_url(self.url.set(drivername="postgresql").render_as_string(hide_password=False))

    @property
    def path(self) -> Path | None:
        return None if self.is_postgres else Path(self.url.database or "")

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._create_engine()
        return self._engine

    def _create_engine(self) -> Engine:
        if self.is_postgres:
            options = (
                f"-c lock_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)} "
                f"-c statement_timeout={int(STATEMENT_TIMEOUT_SECONDS * 1000)} "
                f"-c idle_in_transaction_session_timeout={int(IDLE_IN_TRANSACTION_SECONDS * 1000)}"
            )
            engine = create_engine(
                self.url,
                connect_args={"options": options, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
                pool_pre_ping=True,
            )
            self._sockets.follow(engine)

            @event.listens_for(engine, "do_connect")
            def _connect(*_: Any) -> None:
                # Given up on the server: no new connection either (the pool would open one when
                # the cut connection fails its ping, and wait for the server again).
                if self._given_up is not None:
                    raise self._unavailable(self._given_up)

            return engine
        assert self.path is not None
        with self.faults():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            self.url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _connect(dbapi_connection: Any, _record: Any) -> None:
            # Transactions are ours, not the driver's: WAL so that `status` reads while a release
            # writes, FULL so that a journaled intent survives a power cut.
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA journal_mode=WAL")
            dbapi_connection.execute("PRAGMA synchronous=FULL")

        @event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
            connection.exec_driver_sql(f"BEGIN {mode}")

        return engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    # -- faults --------------------------------------------------------------------------------

    @contextmanager
    def faults(self) -> Iterator[None]:
        """The driver's errors as an operator-facing refusal: what failed, why, and what to do."""
        if self._given_up is not None:
            raise self._unavailable(self._given_up)
        cuts = self._sockets.cuts
        try:
            yield
        except (SQLAlchemyError, OSError) as error:
            cut = self._sockets.cuts != cuts
            raise self._unavailable(self._sockets.why if cut else self._why(error)) from None

    def _unavailable(self, why: str) -> JournalUnavailable:
        return JournalUnavailable(
            f"the journal {self.display} could not be read or written: {why}. Nothing "
            "was done after the last journaled step; the same command resumes from the live state"
        )

    @contextmanager
    def _answered(self) -> Iterator[None]:
        """PostgreSQL: the server answers this operation within `answer_timeout`, or the connection
        it uses is cut (and the operation fails, reported by `faults`)."""
        if not self.is_postgres:
            yield
            return
        why = (
            f"the server did not answer within {self.answer_timeout:g} s, so the connection was cut; "
            "check the server and the network, and rerun"
        )
        with self._sockets.answered_within(self.answer_timeout, why):
            yield

    def abandon(self) -> None:
        """Give up on the server (the operator insisted on interrupting an operation that waits
        for it): every connection is cut now, and every later operation of this process fails at
        once. Called from a signal handler, in the thread whose operation waits: one still
        connecting (or a file store) has no connection to cut, so it stops waiting here."""
        self._given_up = "the operator gave up waiting for it (a second SIGINT or SIGTERM)"
        self._sockets.cut_all(self._given_up)
        if not self._sockets.in_use_by(threading.get_ident()):
            raise self._unavailable(self._given_up)

    def _why(self, error: BaseException) -> str:
        cause = getattr(error, "orig", None) or error
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if self.url.password:
            detail = mask(detail.replace(str(self.url.password), MASK))
        sqlstate = getattr(cause, "sqlstate", None)
        if "locked" in detail or "busy" in detail or sqlstate == "55P03":
            holders = "" if self.path is None else describe_holders(self.path)
            return (
                f"another process held it for more than {BUSY_TIMEOUT_SECONDS:g} s ({detail}){holders}; "
                "wait for it and rerun"
            )
        if sqlstate == "25P03":
            return (
                f"this process was stopped in the middle of a write for more than "
                f"{IDLE_IN_TRANSACTION_SECONDS:g} s, and the server ended the write ({detail}); rerun"
            )
        if sqlstate == "57014":
            return f"a statement ran past {STATEMENT_TIMEOUT_SECONDS:g} s ({detail}); rerun"
        if "full" in detail or sqlstate in ("53100", "53200"):
            return f"the disk or the database is full ({detail}); free space and rerun"
        if self.is_postgres and ("connect" in detail or "Connection refused" in detail):
            return f"the server could not be reached ({detail}); check the URL and the network, and rerun"
        return f"{detail}; check the store and rerun"

    # -- transactions ------------------------------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction: on SQLite the write lock is taken at its start. SIGINT, SIGTERM
        and Ctrl-Z wait for it to end (commit or roll back) and are acted on right after."""
        self.check_schema()
        with self._connected() as connection:
            connection.execution_options(sqlite_begin="IMMEDIATE")
            with connection.begin():
                yield connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        self.check_schema()
        with self._connected() as connection, connection.begin():
            yield connection

    @contextmanager
    def _connected(self) -> Iterator[Connection]:
        """A connection for one operation: signals wait for it (a second SIGINT or SIGTERM gives up
        on a server that does not answer), the server has `answer_timeout` to answer, and the
        driver's errors become `JournalUnavailable`."""
        with (
            signals.postponed(abandon=self.abandon),
            self.faults(),
            self._answered(),
            self.engine.connect() as connection,
        ):
            yield connection

    def lock_row(self, statement: Any) -> Any:
        """`statement` (a select) locking the rows it reads until the transaction ends: PostgreSQL
        needs it for read-then-write; SQLite's write transaction already holds the whole file."""
        return statement.with_for_update() if self.is_postgres else statement

    def upsert(self, table: Any) -> Any:
        """An INSERT that can turn into an UPDATE on conflict (`on_conflict_do_update`), in the
        store's dialect."""
        if self.is_postgres:
            from sqlalchemy.dialects.postgresql import insert as postgres_insert

            return postgres_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def clock(self, connection: Connection) -> tuple[str, float]:
        """The clock leases and budgets are judged by: (its id, now in seconds).

        SQLite: the boot's clock of this machine (seconds since boot from /proc/uptime), which
        neither a wall-clock step nor a faked time moves, named by the boot id: a lease written
        under another boot is over. PostgreSQL: the server's clock, the one clock every client
        shares, so a laptop whose clock is off cannot take over a live lock."""
        if self.is_postgres:
            now = connection.execute(text("SELECT extract(epoch from clock_timestamp())")).scalar_one()
            return POSTGRES_CLOCK_ID, float(now)
        return local_clock()

    # -- schema ----------------------------------------------------------------------------------

    def revision(self) -> str | None:
        """The schema revision the store is at: None for an empty store, "pre-migrations" for a
        journal created before the store had migrations."""
        with self._connected() as connection:
            tables = set(inspect(connection).get_table_names())
            if "alembic_version" in tables:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            return "pre-migrations" if tables & set(SCHEMA_TABLES) else None

    def _head_or_none(self) -> str | None:
        """The common case in one query: the store is at the head revision. If the query fails
        (no `alembic_version` table), look closer; a server that cannot be reached or does not
        answer is reported as such."""
        cuts = self._sockets.cuts
        with self._connected() as connection:
            try:
                found = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except SQLAlchemyError:
                if self._sockets.cuts != cuts:
                    raise
                return None
        return found if found == schema.HEAD else None

    def check_schema(self) -> None:
        """Refuse a store whose schema is not the one this code reads (exit 3, with the command
        to run); a new SQLite file is created at the head revision."""
        if self._checked:
            return
        revision = self._head_or_none()
        if revision is None:  # not at the head: look closer (empty, older, from before migrations)
            revision = self.revision()
        if revision is None and not self.is_postgres:
            self.upgrade()
            revision = schema.HEAD
        if revision != schema.HEAD:
            found = "has no schema" if revision is None else f"is at schema revision {revision}"
            raise Refused(
                f"the state store {self.display} {found}; this version needs revision {schema.HEAD}. "
                f"Run `{UPGRADE_COMMAND}` (once, for everyone who shares the store) and rerun"
            )
        self._checked = True

    def upgrade(self, to: str = "head") -> tuple[str | None, str]:
        """Bring the schema to `to` with Alembic; returns (revision before, revision after). A
        journal from before migrations is adopted first: its missing columns added, then stamped
        at revision 0001."""
        from alembic import command
        from alembic.config import Config

        before = self.revision()
        config = Config()
        config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        with self.faults(), self.engine.connect() as connection:
            connection.execution_options(sqlite_begin="IMMEDIATE")
            config.attributes["connection"] = connection
            if before == "pre-migrations":
                _adopt_pre_migration_journal(connection)
                command.stamp(config, "0001")
            command.upgrade(config, to)
            connection.commit()
        after = self.revision()
        assert after is not None
        self._checked = False
        return before, after


# Columns the SQLite journal added on open before it had migrations; an old file may lack them.
_PRE_MIGRATION_COLUMNS: Mapping[str, Mapping[str, str]] = {
    "releases": {"migration": "TEXT", "hold": "TEXT", "hold_detail": "TEXT", "reason": "TEXT"},
    "events": {"token": "INTEGER"},
}


def _adopt_pre_migration_journal(connection: Connection) -> None:
    inspector = inspect(connection)
    for table, columns in _PRE_MIGRATION_COLUMNS.items():
        present = {column["name"] for column in inspector.get_columns(table)}
        for name, kind in columns.items():
            if name not in present:
                connection.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    connection.commit()


class _Sockets:
    """The PostgreSQL connections' sockets, so that a connection whose server does not answer can
    be cut from another thread: `shutdown` on a duplicate of its descriptor, which makes the driver's
    wait end at once with a closed connection (closing the driver's own descriptor under it would
    not be safe). Which thread has which connection checked out is followed too, so that a cut
    for one operation leaves the other threads' operations alone."""

    def __init__(self) -> None:
        self.cuts = 0
        self.why = ""
        self._lock = threading.Lock()
        self._by_connection: weakref.WeakKeyDictionary[Any, socket.socket] = weakref.WeakKeyDictionary()
        self._checked_out: dict[int, socket.socket] = {}
        # Each thread's operations under way (a stack: one may run inside another): (deadline,
        # seconds, why).
        self._deadlines: dict[int, list[tuple[float, float, str]]] = {}
        self._watchdog: threading.Thread | None = None

    @contextmanager
    def answered_within(self, seconds: float, why: str) -> Iterator[None]:
        """This thread's operation has `seconds`, then its connection is cut (`why`). One watchdog
        thread looks after every deadline, while there are any: a thread (or a timer) per
        operation cost half a millisecond each, a third of a fast write."""
        thread = threading.get_ident()
        with self._lock:
            self._deadlines.setdefault(thread, []).append((time.monotonic() + seconds, seconds, why))
            if self._watchdog is None:
                self._watchdog = threading.Thread(target=self._watch, name="state-store-answers", daemon=True)
                self._watchdog.start()
        try:
            yield
        finally:
            with self._lock:
                stack = self._deadlines.get(thread)
                if stack:
                    stack.pop()
                if not stack:
                    self._deadlines.pop(thread, None)

    def _watch(self) -> None:
        while True:
            time.sleep(WATCHDOG_INTERVAL_SECONDS)
            with self._lock:
                if not self._deadlines:
                    self._watchdog = None
                    return
                now = time.monotonic()
                for thread, stack in self._deadlines.items():
                    for index, (deadline, seconds, why) in enumerate(stack):
                        if deadline <= now:
                            # Again after as long: the pool may have opened a new connection for
                            # the operation, to a server that does not answer either.
                            stack[index] = (now + seconds, seconds, why)
                            self._cut_for(thread, why)

    def follow(self, engine: Engine) -> None:
        event.listen(engine, "connect", self._connected)
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)
        event.listen(engine, "close", self._closed)

    def _connected(self, dbapi_connection: Any, _record: Any) -> None:
        duplicate = socket.socket(fileno=os.dup(dbapi_connection.fileno()))
        weakref.finalize(dbapi_connection, duplicate.close)
        with self._lock:
            self._by_connection[dbapi_connection] = duplicate

    def _closed(self, dbapi_connection: Any, _record: Any) -> None:
        # The duplicate would keep the connection open (the server waiting on it) until collected.
        if dbapi_connection is None:
            return
        with self._lock:
            duplicate = self._by_connection.pop(dbapi_connection, None)
        if duplicate is not None:
            duplicate.close()

    def _checkout(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        with self._lock:
            found = self._by_connection.get(dbapi_connection)
            if found is not None:
                self._checked_out[threading.get_ident()] = found

    def _checkin(self, dbapi_connection: Any, _record: Any) -> None:
        # An invalidated connection comes back as None, in the thread that used it.
        with self._lock:
            found = None if dbapi_connection is None else self._by_connection.get(dbapi_connection)
            if found is None:
                self._checked_out.pop(threading.get_ident(), None)
            for thread, checked_out in list(self._checked_out.items()):
                if checked_out is found:
                    del self._checked_out[thread]

    def _cut_for(self, thread: int, why: str) -> None:
        """Cut the connection `thread` uses; if it has none checked out yet (it is still pinging a
        pooled one), every connection no other thread uses. (The lock is held.)"""
        own = self._checked_out.get(thread)
        others = {id(used) for used in self._checked_out.values()}
        chosen = (
            [own]
            if own is not None
            else [duplicate for duplicate in self._by_connection.values() if id(duplicate) not in others]
        )
        self._cut(chosen, why)

    def in_use_by(self, thread: int) -> bool:
        with self._lock:
            return thread in self._checked_out

    def cut_all(self, why: str) -> None:
        with self._lock:
            self._cut(list(self._by_connection.values()), why)

    def _cut(self, duplicates: list[socket.socket], why: str) -> None:
        self.cuts += 1
        self.why = why
        for duplicate in duplicates:
            with suppress(OSError):  # already closed
                duplicate.shutdown(socket.SHUT_RDWR)


def local_clock() -> tuple[str, float]:
    """This machine's boot clock: (boot id, seconds since boot)."""
    try:
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):  # no /proc: the monotonic clock, also boot-relative
        uptime = time.monotonic()
    return boot_id(), uptime


def default_url(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / 'journal.sqlite'}"


@functools.cache
def open_store(url: str) -> StateStore:
    """One store (one connection pool) per URL in a process: the journal and the request budget
    share it."""
    return StateStore(url)
