"""The journal as it was before migrations: releases, events (with fencing tokens) and leases.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("version", sa.Text, nullable=False),
        sa.Column("previous_version", sa.Text),
        sa.Column("operator", sa.Text, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("outcome", sa.Text),
        sa.Column("last_percent", sa.Integer),
        sa.Column("migration", sa.Text),
        sa.Column("hold", sa.Text),
        sa.Column("hold_detail", sa.Text),
        sa.Column("reason", sa.Text),
    )
    op.create_index("releases_by_target", "releases", ["environment", "service", "started_at"])
    op.create_table(
        "events",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Float, nullable=False),
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("release_id", sa.Text),
        sa.Column("operator", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("token", sa.Integer),
        sa.CheckConstraint("kind IN ('intent', 'outcome', 'gate', 'note')", name="events_kind"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "leases",
        sa.Column("environment", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("token", sa.Integer, nullable=False),
        sa.Column("owner", sa.Text),
        sa.Column("host", sa.Text),
        sa.Column("pid", sa.Integer),
        sa.Column("boot_id", sa.Text),
        sa.Column("start_ticks", sa.Float),
        sa.Column("acquired_at", sa.Float),
        sa.Column("clock_id", sa.Text),
        sa.Column("expires_at", sa.Float),
        sa.PrimaryKeyConstraint("environment", "service"),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_table("events")
    op.drop_index("releases_by_target", table_name="releases")
    op.drop_table("releases")
