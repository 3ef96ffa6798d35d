"""The sandbox's Postgres and Redis: real servers on 127.0.0.1, each with a directory of its own.

Postgres refuses to run as root, so when the sandbox is started by root (CI, containers) the
server runs as Debian's `postgres` system user, in a directory under the system's temporary
directory (the sandbox's own may sit below directories that user cannot enter). The app connects
over TCP with a generated password (scram-sha-256); the superuser only over the server's socket.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from releases.errors import Refused

LOOPBACK = "127.0.0.1"
SUPERUSER = "postgres"
APP_ROLE = "app"
APP_DATABASE = "app"
STARTUP_TIMEOUT_SECONDS = 30.0
SERVER_PROGRAMS = ("initdb", "postgres", "pg_dump", "pg_restore")


def postgres_bin_dir() -> Path | None:
    """Where the server's programs are: on PATH, else Debian's newest `/usr/lib/postgresql/N/bin`
    (Debian puts only the client wrappers on PATH)."""
    on_path = shutil.which("initdb")
    if on_path is not None:
        return Path(on_path).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def missing_programs() -> list[str]:
    bin_dir = postgres_bin_dir()
    missing = [p for p in SERVER_PROGRAMS if bin_dir is None or not (bin_dir / p).exists()]
    return missing + (["redis-server"] if shutil.which("redis-server") is None else [])


def server_user() -> str | None:
    """The user the server must run as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise Refused(
            f"Postgres cannot run as root and there is no {SUPERUSER!r} system user; Debian's postgresql "
            "package creates it (`./dev setup`)"
        ) from None
    return SUPERUSER


def postgres_data_dir(sandbox_root: Path) -> Path:
    """A new, empty directory the server's user owns."""
    user = server_user()
    if user is None:
        directory = sandbox_root / "postgres"
        directory.mkdir(parents=True, mode=0o700)
        return directory
    directory = Path(tempfile.mkdtemp(prefix="platform-sandbox-postgres-"))
    entry = pwd.getpwnam(user)
    os.chown(directory, entry.pw_uid, entry.pw_gid)
    return directory


@dataclass(frozen=True)
class Postgres:
    bin_dir: Path
    data_dir: Path
    port: int

    def initialise(self) -> None:
        """An empty cluster: local socket connections trusted (the superuser), TCP by password."""
        completed = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "--no-instructions",
            ],
            capture_output=True,
            text=True,
            check=False,
            user=server_user(),
        )
        if completed.returncode != 0:
            raise Refused(f"initdb failed: {completed.stderr.strip() or completed.stdout.strip()}")

    def argv(self) -> list[str]:
        # fsync off: a sandbox's database is rebuilt with the sandbox, durability buys nothing here.
        return [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-c",
            f"listen_addresses={LOOPBACK}",
            "-c",
            f"unix_socket_directories={self.data_dir}",
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=50",
        ]

    def _connect_when_ready(self, psycopg: Any, timeout: float = STARTUP_TIMEOUT_SECONDS) -> Any:
        """A superuser connection once the server accepts sessions. Its TCP port (what the start
        waited for) opens before its unix socket exists and before recovery ends, and a loaded
        machine stretches that moment: until the deadline, a refused connection means try again."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return psycopg.connect(
                    host=str(self.data_dir),
                    port=self.port,
                    user=SUPERUSER,
                    dbname="postgres",
                    autocommit=True,
                )
            except psycopg.OperationalError as error:
                if time.monotonic() > deadline:
                    raise Refused(
                        f"the sandbox's Postgres did not accept sessions within {timeout:g} s: {error}"
                    ) from None
                time.sleep(0.1)

    def create_app_database(self) -> str:
        """The app's role (which may create scratch databases, for backup verification) and
        database; returns its `DATABASE_URL`."""
        # Here: `invoke status` reads the sandbox without loading a database driver.
        import psycopg
        from psycopg import sql

        password = secrets.token_urlsafe(24)
        with self._connect_when_ready(psycopg) as connection:
            connection.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(password)
                )
            )
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE)
                )
            )
        return f"postgresql://{APP_ROLE}:{password}@{LOOPBACK}:{self.port}/{APP_DATABASE}"


@dataclass(frozen=True)
class Redis:
    directory: Path
    port: int

    @property
    def config_file(self) -> Path:
        return self.directory / "redis.conf"

    def configure(self) -> str:
        """A config file (0600: it holds the password) for a memory-only server; returns its URL."""
        password = secrets.token_urlsafe(24)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(self.config_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(
                f'bind {LOOPBACK}\nport {self.port}\nprotected-mode yes\nsave ""\nappendonly no\n'
                f"dir {self.directory}\nrequirepass {password}\n"
            )
        return f"redis://:{password}@{LOOPBACK}:{self.port}/0"

    def argv(self) -> list[str]:
        return ["redis-server", str(self.config_file)]
