"""Declarative models of the five tables; alembic's migrations must match them exactly.

Times are stored as UTC epoch seconds in double-precision columns: they round-trip without
time-zone surprises on every dialect and cost nothing to convert on the write-behind path.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = (
    "KEY_MAX_LENGTH",
    "MESSAGE_STATES",
    "AnalyticsBucket",
    "Base",
    "DeadLetter",
    "MessageRow",
    "ReferenceChunk",
    "RetryRecordRow",
)

KEY_MAX_LENGTH = 255
"""Longest ``target_type`` / ``target_id`` / topic name accepted anywhere."""

MESSAGE_STATES = ("ready", "inflight", "scheduled", "done", "dead")
"""Every state a durable message row can be in."""

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention, so batch migrations can name constraints."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON}


class RetryRecordRow(Base):
    """Retry state of one target (``target_type``, ``target_id``) in its current cycle."""

    __tablename__ = "retry_records"
    __table_args__ = (
        UniqueConstraint("target_type", "target_id"),
        # The pruner's bounded range of records untouched since a cutoff (``id`` is the
        # rowid, which every SQLite index ends with: the keyset order needs no sort).
        Index(None, "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target_type: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    target_id: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    """Failures in the current cycle."""
    early_retry_used: Mapped[bool] = mapped_column(Boolean, default=False)
    last_attempt_at: Mapped[float | None] = mapped_column(Float)
    last_success_at: Mapped[float | None] = mapped_column(Float)
    next_allowed_at: Mapped[float | None] = mapped_column(Float)
    last_explicit_early_granted_at: Mapped[float | None] = mapped_column(Float)
    policy_snapshot: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The policy in force when the cycle began."""
    version: Mapped[int] = mapped_column(Integer, default=0)
    """Bumped on every change; an upsert never replaces a newer version with an older one."""
    updated_at: Mapped[float] = mapped_column(Float)


class MessageRow(Base):
    """A durable delivery and where it stands."""

    __tablename__ = "messages"
    __table_args__ = (
        # One partial index per state that is paged or pruned, so a row is in one of them
        # at a time and a state change moves it between two (dead rows are in none): the
        # pages and prune batches are index ranges, at the write cost of one index.
        # Recovery pages of one topic's ready rows, in (available_at, id) order.
        Index(
            "ix_messages_ready",
            "topic",
            "available_at",
            "id",
            sqlite_where=text("state = 'ready'"),
            postgresql_where=text("state = 'ready'"),
        ),
        # Scheduled rows by due time.
        Index(
            "ix_messages_scheduled",
            "available_at",
            "id",
            sqlite_where=text("state = 'scheduled'"),
            postgresql_where=text("state = 'scheduled'"),
        ),
        # Done rows by age (a done row's available_at is the time it was done).
        Index(
            "ix_messages_done",
            "available_at",
            "id",
            sqlite_where=text("state = 'done'"),
            postgresql_where=text("state = 'done'"),
        ),
        Index(None, "target_type", "target_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    target_type: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    target_id: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    """The msgspec-encoded (msgpack) payload."""
    headers: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    """One of :data:`MESSAGE_STATES`."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Deliveries that ended in failure so far."""
    available_at: Mapped[float] = mapped_column(Float)
    """When a ``ready``/``scheduled`` message may next be delivered; for a ``done`` row,
    when it was done (the age its pruning goes by)."""
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)
    early_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    """The handler asked for the explicit early retry; the scheduled attempt asks for it."""
    first_failed_at: Mapped[float | None] = mapped_column(Float)
    """When the message's first attempt failed (``None`` until one did): the start of its
    time to success, kept across a restart and a scheduled or recovered read."""


class DeadLetter(Base):
    """A message that ran out of retries, could not be decoded, or failed for good."""

    __tablename__ = "dead_letters"
    __table_args__ = (
        Index(None, "topic", "created_at"),
        Index(None, "error_type"),
        Index(None, "message_id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("messages.id", ondelete="SET NULL")
    )
    topic: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    target_type: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    target_id: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    """The full envelope, msgpack-encoded, as it was last delivered."""
    reason: Mapped[str] = mapped_column(String(32))
    """``exhausted``, ``non_retryable`` or ``undecodable``."""
    error_type: Mapped[str | None] = mapped_column(String(KEY_MAX_LENGTH))
    error_message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_record: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The target's retry record as it stood when the message died."""
    created_at: Mapped[float] = mapped_column(Float)
    replayed_at: Mapped[float | None] = mapped_column(Float)
    replay_message_id: Mapped[str | None] = mapped_column(String(64))


class ReferenceChunk(Base):
    """A piece of reference text (a runbook section, a past failure) and its embedding's origin."""

    __tablename__ = "reference_chunks"
    __table_args__ = (Index(None, "source"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    """Also the chunk's label in the vector index."""
    source: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    text: Mapped[str] = mapped_column(Text)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON)
    embedder: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    dim: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float)


class AnalyticsBucket(Base):
    """One counter of one topic in one time bucket (a minute or an hour): its count.

    Rows are only ever added to (``value = value + excluded.value``) and pruned after their
    size's retention. The primary key leads with the bucket size and start, so a range read
    or a prune batch is one range of it; without a rowid on SQLite the table *is* that
    index, so a range read never looks anything up elsewhere (the value is in the key's
    leaf), and on PostgreSQL the key includes the value for an index-only scan.
    """

    __tablename__ = "analytics_buckets"
    __table_args__ = (
        PrimaryKeyConstraint(
            "bucket_size", "bucket_start", "topic", "metric", postgresql_include=["value"]
        ),
        {"sqlite_with_rowid": False},
    )

    bucket_size: Mapped[int] = mapped_column(Integer)
    """Seconds: 60 (a minute) or 3600 (an hour)."""
    bucket_start: Mapped[float] = mapped_column(Float)
    """Epoch seconds, a multiple of ``bucket_size``."""
    topic: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    metric: Mapped[str] = mapped_column(String(KEY_MAX_LENGTH))
    """What is counted (``handled``, ``retry_ok:base``, ``dead:exhausted``, ``latency:17``...)."""
    value: Mapped[int] = mapped_column(BigInteger)
