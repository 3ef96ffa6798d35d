"""The Cloudflare request budget, shared by every process that uses the store.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_budget",
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("bucket", sa.BigInteger, nullable=False),
        sa.Column("used", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("scope", "bucket"),
    )


def downgrade() -> None:
    op.drop_table("request_budget")
