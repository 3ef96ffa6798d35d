"""The demo app's migration command: what a release's `migrations.command` runs in the sandbox.

    DATABASE_URL=postgresql://... RELEASE_VERSION=2.3.0 python -m releases.sandbox.migrate

Applies, in order and each in its own transaction, every migration up to RELEASE_VERSION that
`schema_migrations` does not list yet; running it twice changes nothing the second time. The
sandbox applies 1.0.0 (the orders table and its rows) when it starts, so there is data to back up.
The later ones are expand-only (new column with a default, new index): the previous version keeps
running on the migrated schema, which is what makes a migration reversible in the runbooks' sense.
"""

from __future__ import annotations

import os
import sys

import psycopg
from packaging.version import InvalidVersion, Version

MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "1.0.0",
        (
            "CREATE TABLE orders (id bigserial PRIMARY KEY, customer text NOT NULL,"
            " amount_cents integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now())",
            "INSERT INTO orders (customer, amount_cents)"
            " SELECT 'customer-' || n % 97, (n * 37) % 10000 FROM generate_series(1, 500) AS n",
        ),
    ),
    (
        "2.3.0",
        (
            "ALTER TABLE orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR'",
            "CREATE INDEX orders_by_customer ON orders (customer)",
        ),
    ),
)


def migrate(database_url: str, target: Version) -> list[str]:
    """Apply what is due up to `target`; the versions applied, in order."""
    applied = []
    with psycopg.connect(database_url, connect_timeout=10) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        connection.commit()
        done = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
        for version, statements in MIGRATIONS:
            if version in done or Version(version) > target:
                continue
            with connection.transaction():
                for statement in statements:
                    connection.execute(statement.encode())
                connection.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            applied.append(version)
    return applied


def main() -> int:
    url, version = os.environ.get("DATABASE_URL"), os.environ.get("RELEASE_VERSION")
    if not url or not version:
        print("migrate: DATABASE_URL and RELEASE_VERSION must be set", file=sys.stderr)
        return 2
    try:
        target = Version(version)
    except InvalidVersion:
        print(f"migrate: RELEASE_VERSION must be a version like 2.3.0, got {version!r}", file=sys.stderr)
        return 2
    try:
        applied = migrate(url, target)
    except psycopg.Error as error:
        print(f"migrate: {type(error).__name__}: {str(error).strip()}", file=sys.stderr)
        return 1
    print(f"migrate: applied {', '.join(applied)}" if applied else f"migrate: nothing due up to {version}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
