"""State stores for the tests: a SQLite file, or a fresh database on one real PostgreSQL cluster
per test session (initdb into a temporary directory and started on a free loopback port, as the
sandbox does). Tests that need PostgreSQL skip, saying why, where its server programs are missing.
"""

from __future__ import annotations

import itertools
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
from sqlalchemy import text

from releases.sandbox.datastores import (
    LOOPBACK,
    SUPERUSER,
    Postgres,
    postgres_bin_dir,
    postgres_data_dir,
    server_user,
)
from releases.state.store import StateStore

STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.e2e)]
ROLE = "platform"


def postgres_missing() -> str | None:
    bin_dir = postgres_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists() or not (bin_dir / "postgres").exists():
        return "the PostgreSQL server (initdb, postgres) is not installed; `./dev test` installs it"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


@dataclass
class PostgresCluster:
    server: Postgres
    process: subprocess.Popen[bytes]
    password: str
    _names: Iterator[int]

    def superuser(self) -> Any:
        import psycopg

        return psycopg.connect(
            host=str(self.server.data_dir),
            port=self.server.port,
            user=SUPERUSER,
            dbname="postgres",
            autocommit=True,
        )

    def new_database(self) -> str:
        """A fresh, empty database owned by the test role; returns its URL (with the password)."""
        name = f"state_{next(self._names)}"
        with self.superuser() as connection:
            connection.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
        return f"postgresql://{ROLE}:{self.password}@{LOOPBACK}:{self.server.port}/{name}"


@contextmanager
def running_postgres(root: Path) -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of its own on a free loopback port, with a login role for the store;
    stopped (by its pid) and removed afterwards. Also used by benchmarks/state_store.py."""
    bin_dir = postgres_bin_dir()
    assert bin_dir is not None, postgres_missing()
    data_dir = postgres_data_dir(root)
    server = Postgres(bin_dir, data_dir, _free_port())
    server.initialise()
    process = subprocess.Popen(
        server.argv(), user=server_user(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    cluster = PostgresCluster(server, process, secrets.token_urlsafe(16), itertools.count(1))
    try:
        import psycopg

        with server._connect_when_ready(psycopg) as connection:
            connection.execute(f"CREATE ROLE {ROLE} LOGIN CREATEDB PASSWORD '{cluster.password}'")
        yield cluster
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresCluster]:
    missing = postgres_missing()
    if missing:
        pytest.skip(missing)
    with running_postgres(tmp_path_factory.mktemp("postgres-root")) as cluster:
        yield cluster


def upgraded(url: str) -> str:
    store = StateStore(url)
    store.upgrade()
    store.close()
    return url


@pytest.fixture(params=STORES)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state store at the head revision: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journal.sqlite'}"
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return upgraded(cluster.new_database())


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """An empty PostgreSQL database (no schema yet)."""
    return postgres_cluster.new_database()


def rows(store: StateStore, query: str, **parameters: Any) -> list[Any]:
    """Rows of a query on the store, as mappings (for tests that look into the journal)."""
    with store.read() as connection:
        return list(connection.execute(text(query), parameters).mappings())


def wait_for_rows(store: StateStore, query: str, timeout: float, **parameters: Any) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rows(store, query, **parameters)
        if found:
            return found
        time.sleep(0.05)
    pytest.fail(f"nothing in the store matched {query!r} within {timeout:g} s")


def execute(store: StateStore, statement: str, **parameters: Any) -> None:
    """One write on the store, as another process (or a person with psql) would make it."""
    with store.write() as connection:
        connection.execute(text(statement), parameters)


def twin(store: StateStore) -> StateStore:
    """The same store opened again: what another process (or machine) would have."""
    return StateStore(store.url)


def backends(url: str) -> list[int]:
    """The server processes serving the database of `url` (but the one asking)."""
    query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with psycopg.connect(url) as connection:
        return [pid for (pid,) in connection.execute(query)]


@contextmanager
def not_answering(pids: list[int], resumed_after: float = 60.0) -> Iterator[None]:
    """Server processes stopped (SIGSTOP): a server that no longer answers (stuck on its disk, cut
    off by the network), as seen from its clients. Resumed at the end of the block, or after
    `resumed_after` seconds, so that code waiting for them forever fails its test instead of
    hanging it."""
    stopped = [psutil.Process(pid) for pid in pids]
    for process in stopped:
        process.suspend()
    timer = threading.Timer(resumed_after, _resume, [stopped])
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        _resume(stopped)


def _resume(stopped: list[psutil.Process]) -> None:
    for process in stopped:
        with suppress(psutil.NoSuchProcess):
            process.resume()
