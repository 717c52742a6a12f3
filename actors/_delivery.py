"""A message on its way through the broker, and the statements that record where it stands.

Each state change is one :class:`~actorgrid.storage.Op` built from a statement compiled
once here; the writer runs consecutive ops of one statement as a single ``executemany``.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

import msgspec
from sqlalchemy import (
    Table,
    bindparam,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    tuple_,
    update,
)

from actorgrid.kernel import Message
from actorgrid.storage import DeadLetter, MessageRow, Op

__all__ = (
    "PRUNE_BATCH",
    "Delivery",
    "Envelope",
    "delete_scheduled_op",
    "delivery_from_row",
    "done_op",
    "insert_op",
    "new_message_id",
    "page_scheduled",
    "prune_done",
    "prune_done_pending",
    "recover_ready",
    "scheduled_by_id",
    "scheduled_of_target",
    "scheduled_op",
)

_messages: Table = MessageRow.__table__  # type: ignore[assignment]
_dead: Table = DeadLetter.__table__  # type: ignore[assignment]

_INSERT = insert(_messages)
_DONE = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .values(state="done", available_at=bindparam("b_now"), updated_at=bindparam("b_now"))
)
"""A done row's ``available_at`` is the time it was done: its pruning is an index range."""
_SCHEDULE = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        available_at=bindparam("b_at"),
        updated_at=bindparam("b_now"),
        last_error=bindparam("b_error"),
        early_requested=bindparam("b_early"),
        first_failed_at=bindparam("b_first_failed"),
    )
)

_DELETE_SCHEDULED = (
    delete(_messages)
    .where(_messages.c.id == bindparam("b_id"))
    .where(_messages.c.state == "scheduled")
)

PRUNE_BATCH = 1000
"""Rows one prune statement deletes at most."""

_c = _messages.c


def _in_state(state: str) -> Any:
    """``state = '<state>'`` as a literal, not a parameter: SQLite picks a partial index
    only for a query whose WHERE names the index's own condition."""
    return _c.state == literal_column(f"'{state}'")


_old_done = _in_state("done") & (_c.available_at < bindparam("b_cutoff"))

prune_done = delete(_messages).where(
    _c.id.in_(
        select(_c.id).where(_old_done).order_by(_c.available_at, _c.id).limit(bindparam("b_limit"))
    )
)
"""Delete up to ``b_limit`` ``done`` rows done before ``b_cutoff``, oldest first.

One batch of a prune: the rows are found through the partial index of done rows, so
a batch costs the same however many rows are kept. Submit the next batch only after this
one committed, so other writers' submissions get their turn in between.
"""

prune_done_pending = select(func.count()).select_from(
    select(literal(1)).where(_old_done).limit(bindparam("b_limit")).subquery()
)
"""How many rows the next :data:`prune_done` batch deletes (at most ``b_limit``).

Nothing else deletes ``done`` rows and a row done now is younger than any cutoff, so the
count read just before a batch is what that batch deletes.
"""

recover_ready = (
    select(_messages)
    .where(_c.topic == bindparam("b_topic"))
    .where(_in_state("ready"))
    .where(
        tuple_(_c.available_at, _c.id) > tuple_(bindparam("b_after_at"), bindparam("b_after_id"))
    )
    .order_by(_c.available_at, _c.id)
    .limit(bindparam("b_limit"))
)
"""One page of a topic's ready rows after an (available_at, id) position.

A range of the partial index of ready rows: done and scheduled rows are never read.
``inflight`` is not a state any row is written in (a row stays ``ready`` while its handler
runs), so it is not asked for.
"""

page_scheduled = (
    select(_messages)
    .where(_in_state("scheduled"))
    .where(
        tuple_(_c.available_at, _c.id) > tuple_(bindparam("b_after_at"), bindparam("b_after_id"))
    )
    .order_by(_c.available_at, _c.id)
    .limit(bindparam("b_limit"))
)
"""One page of the scheduled rows, by due time, after an (available_at, id) position."""

scheduled_of_target = (
    select(_messages)
    .where(_c.target_type == bindparam("b_target_type"))
    .where(_c.target_id == bindparam("b_target_id"))
    .where(_in_state("scheduled"))
    .order_by(_c.created_at)
)
"""A target's scheduled rows, oldest message first."""

scheduled_by_id = select(_messages).where(_c.id == bindparam("b_id")).where(_c.state == "scheduled")
"""The row of one scheduled message (none if the message is not scheduled)."""


_ids: list[Any] = []


def _reseed() -> None:
    prefix = os.urandom(8).hex()
    _ids[:] = [prefix, itertools.count(int.from_bytes(os.urandom(4), "big"))]


_reseed()
os.register_at_fork(after_in_child=_reseed)


def new_message_id() -> str:
    """Return a new message id: 32 hex digits, a random per-process prefix and a counter."""
    return f"{_ids[0]}{next(_ids[1]):016x}"


class Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """A message as the dead-letter queue keeps it: everything needed to replay it."""

    id: str
    topic: str
    target_type: str
    target_id: str
    payload: bytes
    headers: dict[str, str]
    attempts: int
    created_at: float


class Delivery(Message, frozen=True, kw_only=True, gc=False):
    """A message on its way to a worker: its row's fields plus what the attempt carries.

    Deliveries are immutable like every actor message; a state change makes a new one
    (``msgspec.structs.replace``).
    """

    id: str
    topic: str
    target_type: str
    target_id: str
    payload: bytes
    headers: dict[str, str]
    created_at: float
    durable: bool
    attempts: int = 0
    """Failed attempts so far."""
    last_error: str | None = None
    last_error_type: str | None = None
    early_requested: bool = False
    """The handler asked for the explicit early retry."""
    phase: str = "first"
    early: bool = False
    """This attempt is the explicit early retry (the glimpse runs before it)."""
    granted: bool = False
    """The gate already allowed this attempt (it is not asked again if the attempt has to
    wait once more, e.g. for a subscription)."""
    first_failed_at: float | None = None
    """When the first attempt failed (the runtime's clock; ``None`` before any did): the
    start of the time to success, stored in the row so a restart keeps it."""

    def envelope(self) -> Envelope:
        """Return the replayable envelope."""
        return Envelope(
            id=self.id,
            topic=self.topic,
            target_type=self.target_type,
            target_id=self.target_id,
            payload=self.payload,
            headers=self.headers,
            attempts=self.attempts,
            created_at=self.created_at,
        )


def delivery_from_row(row: Any) -> Delivery:
    """Rebuild a delivery from a ``messages`` row (after a restart)."""
    return Delivery(
        id=row.id,
        topic=row.topic,
        target_type=row.target_type,
        target_id=row.target_id,
        payload=row.payload,
        headers=dict(row.headers or {}),
        created_at=row.created_at,
        durable=True,
        attempts=row.attempts,
        last_error=row.last_error,
        early_requested=bool(row.early_requested),
        first_failed_at=row.first_failed_at,
    )


def insert_op(d: Delivery, now: float) -> Op:
    """The op that stores a newly published message as ``ready``."""
    return Op(
        _INSERT,
        {
            "id": d.id,
            "topic": d.topic,
            "target_type": d.target_type,
            "target_id": d.target_id,
            "payload": d.payload,
            "headers": d.headers or None,
            "state": "ready",
            "attempts": d.attempts,
            "available_at": now,
            "created_at": d.created_at,
            "updated_at": now,
            "last_error": None,
            "early_requested": False,
        },
    )


def done_op(d: Delivery, now: float) -> Op:
    """The op that marks a message ``done``."""
    return Op(_DONE, {"b_id": d.id, "b_now": now})


def delete_scheduled_op(d: Delivery) -> Op:
    """The op that deletes a scheduled message's row (an operator's delete)."""
    return Op(_DELETE_SCHEDULED, {"b_id": d.id})


def scheduled_op(d: Delivery, at: float, now: float, state: str = "scheduled") -> Op:
    """The op that records a failure: ``scheduled`` for ``at`` (or ``dead``)."""
    return Op(
        _SCHEDULE,
        {
            "b_id": d.id,
            "b_state": state,
            "b_attempts": d.attempts,
            "b_at": at,
            "b_now": now,
            "b_error": d.last_error,
            "b_early": d.early_requested,
            "b_first_failed": d.first_failed_at,
        },
    )
