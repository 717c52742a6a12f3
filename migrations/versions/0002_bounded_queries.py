"""Indexes for bounded queries: recovery pages, scheduled pages and prune batches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-14 09:12:31

``messages``: (topic, state, available_at, id) serves a topic's recovery pages and makes
the topic-only index redundant; (state, available_at, id) replaces (state, available_at),
its prefix, so that keyset pages ordered by (available_at, id) need no sort. A done row's
``available_at`` becomes the time it was done (which ``updated_at`` holds for the rows
already done), so the prune of done rows is a range of the same index.
``retry_records``: an index on ``updated_at`` for the prune of finished targets.
"""

from __future__ import annotations

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    """Create the paging and pruning indexes, drop the two they make redundant."""
    op.execute("UPDATE messages SET available_at = updated_at WHERE state = 'done'")
    op.create_index(
        op.f("ix_messages_state_available_at_id"), "messages", ["state", "available_at", "id"]
    )
    op.create_index(
        op.f("ix_messages_topic_state_available_at_id"),
        "messages",
        ["topic", "state", "available_at", "id"],
    )
    op.drop_index(op.f("ix_messages_state_available_at"), table_name="messages")
    op.drop_index(op.f("ix_messages_topic"), table_name="messages")
    op.create_index(op.f("ix_retry_records_updated_at"), "retry_records", ["updated_at"])


def downgrade() -> None:
    """Restore the indexes of revision 0001 (done rows keep their available_at)."""
    op.drop_index(op.f("ix_retry_records_updated_at"), table_name="retry_records")
    op.create_index(op.f("ix_messages_topic"), "messages", ["topic"])
    op.create_index(op.f("ix_messages_state_available_at"), "messages", ["state", "available_at"])
    op.drop_index(op.f("ix_messages_topic_state_available_at_id"), table_name="messages")
    op.drop_index(op.f("ix_messages_state_available_at_id"), table_name="messages")
