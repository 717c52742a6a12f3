"""Where dead letters live: the ``dead_letters`` table, or a bounded in-memory store.

Both stores answer the same queries; only the dead-letter queue actor calls them, one
request at a time, so neither needs locks. Every change to the table goes through the
group-commit writer, one ``write`` (one transaction) per batch.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final, Protocol, final

import msgspec
import structlog
from sqlalchemy import Table, and_, bindparam, delete, exists, func, insert, or_, select, update

from actorgrid.kernel import MessageDecodeError, decode, encode
from actorgrid.storage import DeadLetter, MessageRow, Op, read_connection

from .._delivery import Envelope, insert_op
from .._exceptions import InvalidArgument
from ..retry import retry_record_reset
from ._messages import DeadLetterEntry

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.sql.elements import ColumnElement

    from actorgrid.storage import Writer

    from .._delivery import Delivery
    from ._messages import DeadLetterFilter

__all__ = ("DeadLetterStore", "MemoryDeadLetterStore", "SqlDeadLetterStore", "dead_letter_insert")

_log = structlog.get_logger("actorgrid.actors.dead_letters")

_dead: Table = DeadLetter.__table__  # type: ignore[assignment]
_messages: Table = MessageRow.__table__  # type: ignore[assignment]

_INSERT: Final = insert(_dead)
_MARK_REPLAYED: Final = (
    update(_dead)
    .where(_dead.c.id == bindparam("b_id"))
    .where(_dead.c.replayed_at.is_(None))
    .values(replayed_at=bindparam("b_at"), replay_message_id=bindparam("b_mid"))
)
_DELETE: Final = delete(_dead).where(_dead.c.id == bindparam("b_id"))
# The message row goes with its last dead letter; a row another dead letter still names
# stays, so that dead letter keeps its message_id (a NULL one means "transient topic").
_DELETE_MESSAGE: Final = (
    delete(_messages)
    .where(_messages.c.id == bindparam("b_mid"))
    .where(_messages.c.state == "dead")
    .where(~exists().where(_dead.c.message_id == bindparam("b_mid")))
)
_BY_IDS: Final = select(_dead).where(_dead.c.id.in_(bindparam("b_ids", expanding=True)))
_KEYS_BY_IDS: Final = select(_dead.c.id, _dead.c.message_id).where(
    _dead.c.id.in_(bindparam("b_ids", expanding=True))
)


class DeadLetterStore(Protocol):
    """What the dead-letter queue needs from where its entries live."""

    @property
    def durable(self) -> bool:
        """Whether replays are stored as ``messages`` rows before they are dispatched."""
        ...

    async def file(self, entry: DeadLetterEntry) -> None:
        """Keep ``entry``."""
        ...

    async def page(
        self, flt: DeadLetterFilter, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetterEntry]:
        """Return up to ``limit`` entries matching ``flt``, newest first, after ``before``."""
        ...

    async def count(self, flt: DeadLetterFilter) -> int:
        """Return how many entries match ``flt``."""
        ...

    async def get_many(
        self, ids: Sequence[str]
    ) -> tuple[dict[str, DeadLetterEntry], dict[str, str]]:
        """Return the entries with these ids (absent ids are left out), and the problem of
        each stored entry that cannot be read."""
        ...

    async def select_ids(self, flt: DeadLetterFilter) -> list[str]:
        """Return the ids of every entry matching ``flt``, oldest first."""
        ...

    async def mark_replayed(self, replays: Sequence[tuple[DeadLetterEntry, Delivery]]) -> None:
        """In one transaction: store each new delivery, clear its target's retry record, and
        mark its dead letter replayed (``replayed_at`` = the delivery's ``created_at``)."""
        ...

    async def delete(self, ids: Sequence[str]) -> int:
        """Delete the entries with these ids in one transaction; return how many existed."""
        ...


def _conditions(flt: DeadLetterFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if flt.topic is not None:
        conds.append(_dead.c.topic == flt.topic)
    if flt.error_type is not None:
        conds.append(_dead.c.error_type == flt.error_type)
    if flt.reason is not None:
        conds.append(_dead.c.reason == flt.reason)
    if flt.since is not None:
        conds.append(_dead.c.created_at >= flt.since)
    if flt.until is not None:
        conds.append(_dead.c.created_at < flt.until)
    if flt.target_type is not None:
        conds.append(_dead.c.target_type == flt.target_type)
    if flt.target_id is not None:
        conds.append(_dead.c.target_id == flt.target_id)
    if flt.search is not None:
        escaped = flt.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        conds.append(
            or_(
                _dead.c.error_type.ilike(pattern, escape="\\"),
                _dead.c.error_message.ilike(pattern, escape="\\"),
            )
        )
    return conds


def _entry(row: Any) -> DeadLetterEntry:
    """Rebuild an entry from a ``dead_letters`` row.

    Raises:
        MessageDecodeError: the stored envelope cannot be decoded.
    """
    return DeadLetterEntry(
        id=row.id,
        message_id=row.message_id,
        topic=row.topic,
        target_type=row.target_type,
        target_id=row.target_id,
        envelope=decode(row.envelope, Envelope),
        reason=row.reason,
        error_type=row.error_type,
        error_message=row.error_message,
        traceback=row.traceback,
        attempts=row.attempts,
        retry_record=row.retry_record,
        created_at=row.created_at,
        replayed_at=row.replayed_at,
        replay_message_id=row.replay_message_id,
    )


def dead_letter_insert(entry: DeadLetterEntry) -> Op:
    """Return the insert of ``entry`` into ``dead_letters``."""
    return Op(_INSERT, _entry_params(entry))


def _entry_params(entry: DeadLetterEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "message_id": entry.message_id,
        "topic": entry.topic,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "envelope": encode(entry.envelope),
        "reason": entry.reason,
        "error_type": entry.error_type,
        "error_message": entry.error_message,
        "traceback": entry.traceback,
        "attempts": entry.attempts,
        "retry_record": entry.retry_record,
        "created_at": entry.created_at,
        "replayed_at": entry.replayed_at,
        "replay_message_id": entry.replay_message_id,
    }


@final
class SqlDeadLetterStore:
    """Entries in the ``dead_letters`` table: reads on the engine, writes through the writer.

    Args:
        engine: the engine to read through.
        writer: the group-commit writer every change goes through.
    """

    __slots__ = ("_engine", "_writer")

    def __init__(self, engine: AsyncEngine, writer: Writer) -> None:
        self._engine = engine
        self._writer = writer

    @property
    def durable(self) -> bool:
        """Always ``True``: replays are stored before they are dispatched."""
        return True

    async def file(self, entry: DeadLetterEntry) -> None:
        """Insert ``entry``.

        Raises:
            WriteRejected: the insert failed (e.g. the id exists already).
        """
        await self._writer.write(dead_letter_insert(entry))

    async def page(
        self, flt: DeadLetterFilter, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetterEntry]:
        """Return up to ``limit`` entries matching ``flt``, newest first, after ``before``."""
        conds = _conditions(flt)
        if before is not None:
            at, after_id = before
            conds.append(
                or_(_dead.c.created_at < at, and_(_dead.c.created_at == at, _dead.c.id < after_id))
            )
        query = (
            select(_dead)
            .where(*conds)
            .order_by(_dead.c.created_at.desc(), _dead.c.id.desc())
            .limit(limit)
        )
        async with read_connection(self._engine) as conn:
            rows = (await conn.execute(query)).all()
        return [_entry(row) for row in rows]

    async def count(self, flt: DeadLetterFilter) -> int:
        """Return how many entries match ``flt``."""
        query = select(func.count()).select_from(_dead).where(*_conditions(flt))
        async with read_connection(self._engine) as conn:
            return int((await conn.execute(query)).scalar_one())

    async def get_many(
        self, ids: Sequence[str]
    ) -> tuple[dict[str, DeadLetterEntry], dict[str, str]]:
        """Return the entries with these ids (absent ids are left out), and the problem of
        each row whose envelope cannot be decoded."""
        found: dict[str, DeadLetterEntry] = {}
        unreadable: dict[str, str] = {}
        if not ids:
            return found, unreadable
        async with read_connection(self._engine) as conn:
            rows = (await conn.execute(_BY_IDS, {"b_ids": list(ids)})).all()
        for row in rows:
            try:
                found[row.id] = _entry(row)
            except MessageDecodeError as exc:
                unreadable[row.id] = str(exc)
        return found, unreadable

    async def select_ids(self, flt: DeadLetterFilter) -> list[str]:
        """Return the ids of every entry matching ``flt``, oldest first."""
        query = select(_dead.c.id).where(*_conditions(flt)).order_by(_dead.c.created_at, _dead.c.id)
        async with read_connection(self._engine) as conn:
            return list((await conn.execute(query)).scalars())

    async def mark_replayed(self, replays: Sequence[tuple[DeadLetterEntry, Delivery]]) -> None:
        """In one transaction: insert each durable delivery as ``ready``, reset each target's
        retry record (kept, with a higher version, so no stale write can bring back the
        exhausted one), and mark each dead letter replayed.

        Raises:
            WriteRejected: the transaction failed; nothing of it is committed.
        """
        ops: list[Op] = []
        for _, delivery in replays:
            if delivery.durable:
                ops.append(insert_op(delivery, delivery.created_at))
        targets = dict.fromkeys((e.target_type, e.target_id) for e, _ in replays)
        reset_record = retry_record_reset()
        now = replays[0][1].created_at if replays else 0.0
        ops.extend(
            Op(reset_record, {"b_target_type": kind, "b_target_id": key, "b_updated_at": now})
            for kind, key in targets
        )
        ops.extend(
            Op(_MARK_REPLAYED, {"b_id": e.id, "b_at": d.created_at, "b_mid": d.id})
            for e, d in replays
        )
        await self._writer.write(*ops)

    async def delete(self, ids: Sequence[str]) -> int:
        """Delete the entries with these ids, and the ``dead`` message rows no other dead
        letter names, in one transaction; return how many entries existed.

        Raises:
            WriteRejected: the transaction failed; nothing of it is committed.
        """
        if not ids:
            return 0
        async with read_connection(self._engine) as conn:
            rows = (await conn.execute(_KEYS_BY_IDS, {"b_ids": list(ids)})).all()
        if not rows:
            return 0
        ops = [Op(_DELETE, {"b_id": row.id}) for row in rows]
        message_ids = dict.fromkeys(row.message_id for row in rows if row.message_id is not None)
        ops.extend(Op(_DELETE_MESSAGE, {"b_mid": mid}) for mid in message_ids)
        await self._writer.write(*ops)
        return len(rows)


@final
class MemoryDeadLetterStore:
    """Entries in memory, at most ``capacity``; filing one more evicts the oldest filed.

    Create it outside the actor's factory and pass it to every incarnation, so the entries
    survive a restart of the dead-letter queue.

    Args:
        capacity: most entries kept.

    Raises:
        InvalidArgument: ``capacity`` is not an int >= 1.
    """

    __slots__ = ("_capacity", "_entries", "evicted")

    def __init__(self, capacity: int = 10_000) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise InvalidArgument("memory_capacity", capacity, "an int >= 1")
        self._capacity = capacity
        self._entries: OrderedDict[str, DeadLetterEntry] = OrderedDict()
        self.evicted = 0
        """Entries evicted so far to stay within ``capacity``."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def capacity(self) -> int:
        """Most entries kept."""
        return self._capacity

    @property
    def durable(self) -> bool:
        """Always ``False``: replays are only dispatched."""
        return False

    async def file(self, entry: DeadLetterEntry) -> None:
        """Keep ``entry``; an id filed before is ignored (the first entry stays).

        When full, the oldest filed entry is evicted and a ``dead_letter_evicted`` warning
        is logged.
        """
        if entry.id in self._entries:
            _log.warning("dead_letter_duplicate", dead_letter_id=entry.id, topic=entry.topic)
            return
        while len(self._entries) >= self._capacity:
            _, oldest = self._entries.popitem(last=False)
            self.evicted += 1
            _log.warning(
                "dead_letter_evicted",
                dead_letter_id=oldest.id,
                topic=oldest.topic,
                created_at=oldest.created_at,
                capacity=self._capacity,
            )
        self._entries[entry.id] = entry

    def _matching(self, flt: DeadLetterFilter) -> list[DeadLetterEntry]:
        return [e for e in self._entries.values() if flt.matches(e)]

    async def page(
        self, flt: DeadLetterFilter, limit: int, before: tuple[float, str] | None
    ) -> list[DeadLetterEntry]:
        """Return up to ``limit`` entries matching ``flt``, newest first, after ``before``."""
        found = self._matching(flt)
        if before is not None:
            found = [e for e in found if (e.created_at, e.id) < before]
        found.sort(key=lambda e: (e.created_at, e.id), reverse=True)
        return found[:limit]

    async def count(self, flt: DeadLetterFilter) -> int:
        """Return how many entries match ``flt``."""
        return sum(1 for e in self._entries.values() if flt.matches(e))

    async def get_many(
        self, ids: Sequence[str]
    ) -> tuple[dict[str, DeadLetterEntry], dict[str, str]]:
        """Return the entries with these ids (absent ids are left out); none is unreadable."""
        return {i: self._entries[i] for i in ids if i in self._entries}, {}

    async def select_ids(self, flt: DeadLetterFilter) -> list[str]:
        """Return the ids of every entry matching ``flt``, oldest first."""
        found = self._matching(flt)
        found.sort(key=lambda e: (e.created_at, e.id))
        return [e.id for e in found]

    async def mark_replayed(self, replays: Sequence[tuple[DeadLetterEntry, Delivery]]) -> None:
        """Mark each dead letter replayed (retry records are the gate's, in memory)."""
        for entry, delivery in replays:
            current = self._entries.get(entry.id)
            if current is not None and current.replayed_at is None:
                self._entries[entry.id] = msgspec.structs.replace(
                    current, replayed_at=delivery.created_at, replay_message_id=delivery.id
                )

    async def delete(self, ids: Sequence[str]) -> int:
        """Forget the entries with these ids; return how many existed."""
        deleted = 0
        for i in ids:
            if self._entries.pop(i, None) is not None:
                deleted += 1
        return deleted
