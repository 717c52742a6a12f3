"""Partial indexes per paged state on messages, instead of two wide composite indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 19:20:00

0002's (state, available_at, id) and (topic, state, available_at, id) indexes held every
row, done and dead ones included, and every state change rewrote an entry in both: the
durable path paid for two wide index updates per message. One partial index per state
that is read in pages (ready by topic, scheduled by due time, done by age for the prune)
holds only the rows of that state, so a state change moves one entry from one index to
another and dead rows are in none. The queries name the state as a literal, which is what
lets SQLite choose a partial index.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def _create(name: str, columns: list[str], state: str) -> None:
    clause = sa.text(f"state = '{state}'")
    op.create_index(name, "messages", columns, sqlite_where=clause, postgresql_where=clause)


def upgrade() -> None:
    """Create the partial indexes, then drop the composite ones they replace."""
    _create("ix_messages_ready", ["topic", "available_at", "id"], "ready")
    _create("ix_messages_scheduled", ["available_at", "id"], "scheduled")
    _create("ix_messages_done", ["available_at", "id"], "done")
    op.drop_index(op.f("ix_messages_topic_state_available_at_id"), table_name="messages")
    op.drop_index(op.f("ix_messages_state_available_at_id"), table_name="messages")


def downgrade() -> None:
    """Restore 0002's composite indexes."""
    op.create_index(
        op.f("ix_messages_state_available_at_id"), "messages", ["state", "available_at", "id"]
    )
    op.create_index(
        op.f("ix_messages_topic_state_available_at_id"),
        "messages",
        ["topic", "state", "available_at", "id"],
    )
    op.drop_index("ix_messages_done", table_name="messages")
    op.drop_index("ix_messages_scheduled", table_name="messages")
    op.drop_index("ix_messages_ready", table_name="messages")
