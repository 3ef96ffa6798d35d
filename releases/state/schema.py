"""The state store's tables, one schema for SQLite and PostgreSQL (SQLAlchemy Core).

Alembic owns it: `migrations/versions/` holds one revision per change, and `HEAD` names the last
one (a test keeps the two equal). Revision 0001 is the schema the SQLite journal created before
the store had migrations; 0002 adds the shared Cloudflare request budget.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

# The revision this code reads and writes; an older store is refused until `invoke state.upgrade`.
HEAD = "0002"

metadata = MetaData()

releases = Table(
    "releases",
    metadata,
    Column("id", Text, primary_key=True),
    Column("environment", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("version", Text, nullable=False),
    Column("previous_version", Text),
    Column("operator", Text, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),
    Column("outcome", Text),
    Column("last_percent", Integer),
    Column("migration", Text),
    Column("hold", Text),
    Column("hold_detail", Text),
    Column("reason", Text),
    Index("releases_by_target", "environment", "service", "started_at"),
)

events = Table(
    "events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("environment", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("release_id", Text),
    Column("operator", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("token", Integer),
    CheckConstraint("kind IN ('intent', 'outcome', 'gate', 'note')", name="events_kind"),
    sqlite_autoincrement=True,
)

leases = Table(
    "leases",
    metadata,
    Column("environment", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("token", Integer, nullable=False),
    Column("owner", Text),
    Column("host", Text),
    Column("pid", Integer),
    Column("boot_id", Text),
    Column("start_ticks", Float),
    Column("acquired_at", Float),
    Column("clock_id", Text),
    Column("expires_at", Float),
    PrimaryKeyConstraint("environment", "service"),
)

# Requests sent to a rate-limited API, per scope (the API and its token) and per bucket of time
# on the store's clock: the budget is the sum over the buckets of the last window.
request_budget = Table(
    "request_budget",
    metadata,
    Column("scope", Text, nullable=False),
    Column("bucket", BigInteger, nullable=False),
    Column("used", Integer, nullable=False),
    PrimaryKeyConstraint("scope", "bucket"),
)
