"""Reading the scheduled messages (retries waiting for their next attempt) for an operator.

A durable topic's scheduled messages are its ``scheduled`` rows, read through the
``(state, available_at, id)`` index in keyset pages; a transient topic's are the deliveries
the broker's timetable holds (they have no row). A listing merges the two in due order.
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Table, select, tuple_

from actorgrid.storage import KEY_MAX_LENGTH, MessageRow, read_connection

from .._delivery import Delivery
from .._exceptions import InvalidArgument

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncEngine

    from ..retry import RetryPolicyConfig, RetryRecord
    from ._core import BrokerCore

__all__ = ("MAX_SCHEDULED_PAGE", "ScheduledMessage", "ScheduledPage", "ScheduledReader")

MAX_SCHEDULED_PAGE = 1000
"""The largest page of scheduled messages one listing returns."""

_messages: Table = MessageRow.__table__  # type: ignore[assignment]
_c = _messages.c
_cursor_decoder = msgspec.msgpack.Decoder(tuple[float, str])
_cursor_encoder = msgspec.msgpack.Encoder()


class ScheduledMessage(msgspec.Struct, frozen=True, kw_only=True):
    """A message waiting for its next attempt after a failure."""

    id: str
    topic: str
    target_type: str
    target_id: str
    durable: bool
    attempts: int
    """Failed attempts so far."""
    next_attempt_at: float
    """When the next attempt is due (epoch seconds); the gate may defer it again then."""
    phase: str
    """The phase of the next attempt: ``base``, ``revise`` or ``exhausted`` (from the
    target's retry record)."""
    last_error_type: str | None
    last_error: str | None
    """``"<type>: <message>"`` of the last failure."""
    early_requested: bool
    """Its handler asked for the explicit early retry."""
    created_at: float
    in_flight: bool
    """Its attempt was handed to a worker already (a kill or delete is refused now)."""


class ScheduledPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of scheduled messages, earliest due first."""

    items: tuple[ScheduledMessage, ...]
    next_cursor: str | None
    """Pass it as ``cursor`` for the next page; ``None`` on the last one."""


def _check_text(name: str, value: object) -> None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= KEY_MAX_LENGTH):
        raise InvalidArgument(name, value, f"None or a string of 1 to {KEY_MAX_LENGTH} characters")


def encode_cursor(at: float, message_id: str) -> str:
    """The opaque cursor that continues a listing after ``(at, message_id)``."""
    raw = _cursor_encoder.encode((at, message_id))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: object) -> tuple[float, str]:
    """The position a cursor of :func:`encode_cursor` stands for.

    Raises:
        InvalidArgument: it was not made by :func:`encode_cursor`.
    """
    problem = "a next_cursor returned by an earlier page"
    if not isinstance(cursor, str) or not 0 < len(cursor) <= 512:
        raise InvalidArgument("cursor", cursor, problem)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, message_id = _cursor_decoder.decode(raw)
    except (ValueError, msgspec.DecodeError):
        raise InvalidArgument("cursor", cursor, problem) from None
    if not math.isfinite(at) or not message_id:
        raise InvalidArgument("cursor", cursor, problem)
    return at, message_id


def _like_prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}: %"


def _error_type(last_error: str | None) -> str | None:
    if last_error and ": " in last_error:
        return last_error.split(": ", 1)[0]
    return None


def phase_of(record: RetryRecord | None, default: RetryPolicyConfig) -> str:
    """The phase of the target's next attempt, from its retry record."""
    if record is None or record.attempt_count == 0:
        return "base"
    policy = record.policy if record.policy is not None else default
    n = record.attempt_count
    if n > policy.max_retries:
        return "exhausted"
    return "base" if n <= policy.base_retries else "revise"


class ScheduledReader:
    """Lists and shows scheduled messages (rows and held transient deliveries).

    Args:
        core: the broker core (its timetable tells what is held and what is in flight).
        engine: the database, ``None`` for a memory-only runtime.
        record_of: returns a target's retry record (``None``: none, or no gate).
        policy: the default retry policy (for records without a snapshot).
    """

    def __init__(
        self,
        core: BrokerCore,
        engine: AsyncEngine | None,
        record_of: Callable[[str, str], Awaitable[RetryRecord | None]],
        policy: RetryPolicyConfig,
    ) -> None:
        self._core = core
        self._engine = engine
        self._record_of = record_of
        self._policy = policy

    async def page(
        self,
        *,
        topic: str | None,
        target_type: str | None,
        target_id: str | None,
        error_type: str | None,
        limit: int,
        cursor: str | None,
    ) -> ScheduledPage:
        """One page of the matching scheduled messages, earliest due first.

        Raises:
            InvalidArgument: a bad filter, limit or cursor.
        """
        for name, value in (
            ("topic", topic),
            ("target_type", target_type),
            ("target_id", target_id),
            ("error_type", error_type),
        ):
            _check_text(name, value)
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_SCHEDULED_PAGE
        ):
            raise InvalidArgument("limit", limit, f"an int from 1 to {MAX_SCHEDULED_PAGE}")
        after = decode_cursor(cursor) if cursor is not None else (-math.inf, "")
        found: list[tuple[float, str, Any]] = []
        if self._engine is not None:
            conds = [_c.state == "scheduled", tuple_(_c.available_at, _c.id) > tuple_(*after)]
            if topic is not None:
                conds.append(_c.topic == topic)
            if target_type is not None:
                conds.append(_c.target_type == target_type)
            if target_id is not None:
                conds.append(_c.target_id == target_id)
            if error_type is not None:
                conds.append(_c.last_error.like(_like_prefix(error_type), escape="\\"))
            query = (
                select(_messages).where(*conds).order_by(_c.available_at, _c.id).limit(limit + 1)
            )
            async with read_connection(self._engine) as conn:
                rows = (await conn.execute(query)).all()
            found.extend((row.available_at, row.id, row) for row in rows)
        for at, d in self._core.timetable.entries():
            if d.durable or (at, d.id) <= after:
                continue
            if (
                (topic is None or d.topic == topic)
                and (target_type is None or d.target_type == target_type)
                and (target_id is None or d.target_id == target_id)
                and (error_type is None or d.last_error_type == error_type)
            ):
                found.append((at, d.id, d))
        found.sort(key=lambda item: (item[0], item[1]))
        more = len(found) > limit
        found = found[:limit]
        items = [await self._item(at, item) for at, _, item in found]
        next_cursor = encode_cursor(found[-1][0], found[-1][1]) if more and found else None
        return ScheduledPage(items=tuple(items), next_cursor=next_cursor)

    async def show(self, message_id: str) -> ScheduledMessage | None:
        """The scheduled message with this id, or ``None``."""
        tt = self._core.timetable
        for at, d in tt.entries() if message_id in tt.by_id else ():
            if d.id == message_id and not d.durable:
                return await self._item(at, d)
        if self._engine is None:
            return None
        query = select(_messages).where(_c.id == message_id, _c.state == "scheduled")
        async with read_connection(self._engine) as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else await self._item(row.available_at, row)

    async def _item(self, at: float, item: Any) -> ScheduledMessage:
        """A row of ``messages`` or a held transient :class:`Delivery`, as a listing item."""
        core = self._core
        durable = not isinstance(item, Delivery)
        if durable:
            error_type = _error_type(item.last_error)
            in_flight = (
                item.id not in core.timetable.by_id
                and not core.timetable.after_horizon(at, item.id)
                and not self._parked(item.topic, item.id)
            )
        else:
            error_type = item.last_error_type
            in_flight = False
        record = await self._record_of(item.target_type, item.target_id)
        return ScheduledMessage(
            id=item.id,
            topic=item.topic,
            target_type=item.target_type,
            target_id=item.target_id,
            durable=durable,
            attempts=item.attempts,
            next_attempt_at=at,
            phase=phase_of(record, self._policy),
            last_error_type=error_type,
            last_error=item.last_error,
            early_requested=bool(item.early_requested),
            created_at=item.created_at,
            in_flight=in_flight,
        )

    def _parked(self, topic: str, message_id: str) -> bool:
        return any(d.id == message_id for d in self._core.parked.get(topic, ()))
