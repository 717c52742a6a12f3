"""Analytics: the time buckets, and when a message first failed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 21:10:00

``analytics_buckets`` holds one counter of one topic in one minute or hour bucket; its
primary key (size, start, topic, metric) is what range reads and prune batches walk, and
on SQLite the table is stored as that key (no rowid), so a read never leaves it.
``messages.first_failed_at`` carries the time of a message's first failed attempt across a
restart, for the time from the first failure to the success.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    """Create the buckets table and add the column."""
    op.create_table(
        "analytics_buckets",
        sa.Column("bucket_size", sa.Integer(), nullable=False),
        sa.Column("bucket_start", sa.Float(), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("metric", sa.String(length=255), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "bucket_size",
            "bucket_start",
            "topic",
            "metric",
            name=op.f("pk_analytics_buckets"),
            postgresql_include=["value"],
        ),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("first_failed_at", sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("first_failed_at")
    op.drop_table("analytics_buckets")
