"""Initial schema: retry_records, messages, dead_letters, reference_chunks.

Revision ID: 0001
Revises: None
Create Date: 2026-11-29 10:25:47
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    """Create the four tables with their keys, constraints and indexes."""
    op.create_table(
        "retry_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target_type", sa.String(length=255), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("early_retry_used", sa.Boolean(), nullable=False),
        sa.Column("last_attempt_at", sa.Float(), nullable=True),
        sa.Column("last_success_at", sa.Float(), nullable=True),
        sa.Column("next_allowed_at", sa.Float(), nullable=True),
        sa.Column("last_explicit_early_granted_at", sa.Float(), nullable=True),
        sa.Column("policy_snapshot", sa.JSON(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retry_records")),
        sa.UniqueConstraint(
            "target_type", "target_id", name=op.f("uq_retry_records_target_type_target_id")
        ),
    )

    op.create_table(
        "messages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("target_type", sa.String(length=255), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("available_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("early_requested", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index(op.f("ix_messages_state_available_at"), "messages", ["state", "available_at"])
    op.create_index(op.f("ix_messages_topic"), "messages", ["topic"])
    op.create_index(
        op.f("ix_messages_target_type_target_id"), "messages", ["target_type", "target_id"]
    )

    op.create_table(
        "dead_letters",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=True),
        sa.Column("topic", sa.String(length=255), nullable=False),
        sa.Column("target_type", sa.String(length=255), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("error_type", sa.String(length=255), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("traceback", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("retry_record", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("replayed_at", sa.Float(), nullable=True),
        sa.Column("replay_message_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_dead_letters_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dead_letters")),
    )
    op.create_index(
        op.f("ix_dead_letters_topic_created_at"), "dead_letters", ["topic", "created_at"]
    )
    op.create_index(op.f("ix_dead_letters_error_type"), "dead_letters", ["error_type"])
    op.create_index(op.f("ix_dead_letters_message_id"), "dead_letters", ["message_id"])

    op.create_table(
        "reference_chunks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=True),
        sa.Column("embedder", sa.String(length=255), nullable=False),
        sa.Column("dim", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_chunks")),
    )
    op.create_index(op.f("ix_reference_chunks_source"), "reference_chunks", ["source"])


def downgrade() -> None:
    """Drop the four tables (dead_letters before the messages it references)."""
    op.drop_index(op.f("ix_reference_chunks_source"), table_name="reference_chunks")
    op.drop_table("reference_chunks")
    op.drop_index(op.f("ix_dead_letters_message_id"), table_name="dead_letters")
    op.drop_index(op.f("ix_dead_letters_error_type"), table_name="dead_letters")
    op.drop_index(op.f("ix_dead_letters_topic_created_at"), table_name="dead_letters")
    op.drop_table("dead_letters")
    op.drop_index(op.f("ix_messages_target_type_target_id"), table_name="messages")
    op.drop_index(op.f("ix_messages_topic"), table_name="messages")
    op.drop_index(op.f("ix_messages_state_available_at"), table_name="messages")
    op.drop_table("messages")
    op.drop_table("retry_records")
