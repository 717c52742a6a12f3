"""An operator's hand on one scheduled message: kill it, delete it, or find it for a retry now.

These run inside the broker actor, which owns the timetable, so nothing else takes a
scheduled delivery out meanwhile. A scheduled message is in one of four places:

* **held**: in the timetable, waiting for its due time;
* **parked**: a retry waiting for its topic's next subscription;
* **row**: a durable row after the timetable's horizon, which no page has reached yet;
* **in flight**: taken out for an attempt (queued at a worker, or its handler running).
  Its row still says ``scheduled`` until the attempt's outcome is written.

Held, parked and row messages are killed or deleted at once. A message in flight is
refused with :class:`~actorgrid.actors.MessageInFlight` and left alone: its attempt's
outcome (done, scheduled again, dead) decides what becomes of it, so a kill racing an
attempt can never leave a dead letter for a message that succeeded, nor a row and a retry
record that disagree. The caller may ask again once the attempt is over.

A killed or deleted row after the horizon may be in a page being read while its change
commits; its id stays in ``Timetable.removed`` until a page read after a writer barrier,
so no page brings it back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import anyio

from actorgrid.kernel import Message
from actorgrid.storage import read_connection

from .._delivery import delete_scheduled_op, delivery_from_row, scheduled_by_id
from .._exceptions import DatabaseBusy, MessageInFlight, ScheduledNotFound
from ..retry import GetRecord, record_to_row

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from .._delivery import Delivery
    from ._core import BrokerCore

__all__ = ("DeleteScheduled", "KillScheduled", "RetryScheduledNow", "ScheduledOperator")

Place = Literal["held", "parked", "row"]


class KillScheduled(Message, frozen=True):
    """Move a scheduled message to the dead letters, reason ``killed`` (reply: the dead
    letter's id, once submitted)."""

    message_id: str


class DeleteScheduled(Message, frozen=True):
    """Delete a scheduled message, row and all (reply: ``None``, once submitted)."""

    message_id: str


class RetryScheduledNow(Message, frozen=True):
    """Ask for the explicit early retry of this scheduled message (reply:
    ``EarlyRetryResult``)."""

    message_id: str


class ScheduledOperator:
    """Finds, kills and deletes scheduled messages for the broker actor.

    Args:
        core: the broker core (its timetable and parked retries).
        engine: the database, ``None`` for a memory-only runtime.
        barrier_timeout: how long to wait for the writer's barrier before a row is read;
            past it :class:`~actorgrid.actors.DatabaseBusy` is raised and nothing changes.
    """

    def __init__(
        self, core: BrokerCore, engine: AsyncEngine | None, barrier_timeout: float
    ) -> None:
        self._core = core
        self._engine = engine
        self._barrier_timeout = barrier_timeout

    async def locate(self, message_id: str, action: str) -> tuple[Delivery, Place]:
        """Find a scheduled message that is not in flight.

        Raises:
            ScheduledNotFound: no scheduled message has this id.
            MessageInFlight: its attempt was handed to a worker already.
            DatabaseBusy: the writer's barrier did not pass in time.
        """
        core = self._core
        tt = core.timetable
        held = tt.by_id.get(message_id)
        if held is not None:
            return held, "held"
        for waiting in core.parked.values():
            for d in waiting:
                if d.id == message_id:
                    return d, "parked"
        if self._engine is None:
            raise ScheduledNotFound(message_id)
        if core.writer is not None:
            with anyio.move_on_after(self._barrier_timeout) as scope:
                await core.writer.flush()
            if scope.cancelled_caught:
                raise DatabaseBusy(action, self._barrier_timeout)
        async with read_connection(self._engine) as conn:
            row = (await conn.execute(scheduled_by_id, {"b_id": message_id})).first()
        if row is None:
            raise ScheduledNotFound(message_id)
        held = tt.by_id.get(message_id)  # a page read meanwhile may hold it now
        if held is not None:
            return held, "held"
        if tt.after_horizon(row.available_at, row.id):
            return delivery_from_row(row), "row"
        raise MessageInFlight(message_id, action)

    def take(self, d: Delivery, place: Place) -> None:
        """Take ``d`` out of where :meth:`locate` found it (a row: keep pages from it)."""
        core = self._core
        if place == "held":
            core.timetable.take(d)
        elif place == "parked":
            waiting = core.parked.get(d.topic, [])
            if d in waiting:
                waiting.remove(d)
            if not waiting:
                core.parked.pop(d.topic, None)
        else:
            core.timetable.removed.add(d.id)

    async def kill(self, message_id: str) -> str:
        """Kill a scheduled message; return the dead letter's id (submitted, not yet
        committed: a writer barrier after the reply commits it)."""
        d, place = await self.locate(message_id, "kill")
        core = self._core
        row: dict[str, Any] | None = None
        if core.gate is not None:
            record = await core.ask_gate(GetRecord(d.target_type, d.target_id))
            if record is not None:
                row = record_to_row(record, core.clock.now())
        # Look again: a page read while the gate answered may have taken it into the timetable.
        if place == "row" and core.timetable.by_id.get(d.id) is not None:
            d, place = core.timetable.by_id[d.id], "held"
        self.take(d, place)
        return core.kill(d, row)

    async def delete(self, message_id: str) -> None:
        """Delete a scheduled message (its row is deleted in one submission)."""
        d, place = await self.locate(message_id, "delete")
        self.take(d, place)
        writer = self._core.writer
        if d.durable and writer is not None:
            writer.submit(delete_scheduled_op(d))
