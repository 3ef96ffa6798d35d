"""Backups of a Postgres the release can reach directly (the sandbox's): `pg_dump` to a compressed
file, verified by restoring it into a scratch database and comparing every table's row count.

A backup nobody has restored is a hope, not a backup: the runbooks restore it before they migrate.
The connection comes from `DATABASE_URL` in the secret store and reaches `pg_dump`/`pg_restore`
through libpq's environment variables, never their command lines (which `ps` shows to everyone).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from releases.errors import Refused
from releases.state_files import private_directory
from releases.targets.backups.protocol import Backup
from releases.targets.secrets.protocol import SecretStore
from releases.topology import SandboxPostgresSpec

LIBPQ_VARIABLES = {
    "host": "PGHOST",
    "port": "PGPORT",
    "user": "PGUSER",
    "password": "PGPASSWORD",
    "dbname": "PGDATABASE",
}


def _row_counts(connection: psycopg.Connection) -> dict[str, int]:
    tables = connection.execute(
        "SELECT schemaname, relname FROM pg_stat_user_tables ORDER BY schemaname, relname"
    ).fetchall()
    counts = {}
    for schema, table in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        row = connection.execute(query).fetchone()
        counts[f"{schema}.{table}"] = int(row[0]) if row else 0
    return counts


class PgDumpBackups:
    def __init__(self, target: SandboxPostgresSpec, secrets: SecretStore, url_secret: str) -> None:
        self.target = target
        self.secrets = secrets
        self.url_secret = url_secret

    def backup(self, name: str, timeout: float) -> Backup:
        url = self.secrets.value(self.url_secret).get_secret_value()
        params = conninfo_to_dict(url)
        environment = {
            variable: str(params[key]) for key, variable in LIBPQ_VARIABLES.items() if key in params
        }
        file = Path(self.target.backups_dir) / f"{name}.dump"
        try:
            private_directory(file.parent)
            file.touch(mode=0o600)  # the data is as secret as the database: readable by its owner only
        except OSError as error:
            problem = error.strerror or type(error).__name__
            raise Refused(f"cannot write the backup {file} ({problem}); nothing was migrated") from None
        deadline = time.monotonic() + timeout
        scratch = f"verify_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
            # The counts and the dump read one snapshot, so writes while the backup runs cannot make
            # a good backup look wrong (or a bad one right).
            with connection.transaction():
                connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                (snapshot,) = connection.execute("SELECT pg_export_snapshot()").fetchone() or ("",)
                source = _row_counts(connection)
                # Custom format: compressed, and pg_restore can restore it selectively or with --clean.
                dump = ["--format=custom", "--compress=6", f"--file={file}", f"--snapshot={snapshot}"]
                self._run("pg_dump", dump, environment, deadline)
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
            try:
                self._run(
                    "pg_restore",
                    ["--exit-on-error", "--no-owner", f"--dbname={scratch}", str(file)],
                    environment,
                    deadline,
                )
                with psycopg.connect(url, dbname=scratch, connect_timeout=10) as restored:
                    copy = _row_counts(restored)
            finally:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
                )
        if copy != source:
            differing = sorted(t for t in source.keys() | copy.keys() if source.get(t) != copy.get(t))
            raise Refused(
                f"the backup {file} did not restore what the database holds (row counts differ in "
                f"{', '.join(differing)}); nothing was migrated"
            )
        return Backup(
            location=str(file),
            size_bytes=file.stat().st_size,
            verification=f"restored into a scratch database: {len(copy)} tables, "
            f"{sum(copy.values())} rows, every count matches",
            restore_procedure=(
                f"{self.target.bin_dir}/pg_restore --clean --if-exists --no-owner --exit-on-error "
                f'--dbname "$DATABASE_URL" {file}'
            ),
        )

    def _run(self, program: str, arguments: list[str], environment: dict[str, str], deadline: float) -> None:
        command = [str(Path(self.target.bin_dir) / program), *arguments]
        try:
            completed = subprocess.run(
                command,
                env=environment,
                capture_output=True,
                text=True,
                check=False,
                timeout=max(deadline - time.monotonic(), 1.0),
            )
        except subprocess.TimeoutExpired:
            raise Refused(f"{program} did not finish in time; nothing was migrated") from None
        except FileNotFoundError:
            raise Refused(f"{command[0]} was not found; nothing was migrated") from None
        if completed.returncode != 0:
            raise Refused(
                f"{program} failed (exit {completed.returncode}): "
                f"{(completed.stderr.strip().splitlines() or ['(no output)'])[-1]}; nothing was migrated"
            )
