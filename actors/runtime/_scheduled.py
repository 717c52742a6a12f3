"""The :class:`~actorgrid.actors.Runtime` methods for scheduled messages: an operator's view.

A scheduled message is a retry waiting for its next attempt. They can be listed (earliest
due first, filtered, in keyset pages), shown, retried now (the explicit early retry, under
the policy's rules), killed (to the dead letters, reason ``killed``) and deleted. Reads go
to the ``messages`` table and the broker's timetable; the changes are the broker actor's,
which owns the timetable. See :mod:`actorgrid.actors.broker._operator` for what happens to
a message whose attempt is in flight (it is refused, and left alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._exceptions import InvalidArgument, RuntimeClosed, ScheduledNotFound
from ..broker import DeleteScheduled, KillScheduled, RetryScheduledNow

if TYPE_CHECKING:
    from actorgrid.kernel import ActorRef
    from actorgrid.storage import Writer

    from ..broker import EarlyRetryResult, ScheduledMessage, ScheduledPage, ScheduledReader
    from ._config import RuntimeConfig

__all__ = ("ScheduledCalls",)


def _check_id(message_id: object) -> str:
    if not isinstance(message_id, str) or not 0 < len(message_id) <= 64:
        raise InvalidArgument("message_id", message_id, "a message id of 1 to 64 characters")
    return message_id


class ScheduledCalls:
    """Scheduled messages, through the runtime's broker."""

    config: RuntimeConfig
    writer: Writer | None
    _broker: ActorRef[Any] | None
    _scheduled: ScheduledReader | None

    def _running(self, action: str, *, stopping: bool = True) -> Any:
        raise RuntimeClosed(action)  # the Runtime's own replaces this

    def _reader(self, action: str) -> ScheduledReader:
        self._running(action)
        assert self._scheduled is not None
        return self._scheduled

    async def scheduled(
        self,
        *,
        topic: str | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        error_type: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ScheduledPage:
        """Return one page of the scheduled messages, earliest due first.

        Every filter given must match: ``topic``, the target (``target_type``,
        ``target_id``), ``error_type`` (the last failure's exception type name). Pass
        ``page.next_cursor`` as ``cursor`` for the next page.

        Raises:
            InvalidArgument: a bad filter, limit (1 to 1000) or cursor.
            RuntimeClosed: the runtime is not running.
        """
        return await self._reader("list scheduled messages").page(
            topic=topic,
            target_type=target_type,
            target_id=target_id,
            error_type=error_type,
            limit=limit,
            cursor=cursor,
        )

    async def scheduled_message(self, message_id: str) -> ScheduledMessage:
        """Return one scheduled message.

        Raises:
            ScheduledNotFound: no scheduled message has this id.
            InvalidArgument: a malformed id. RuntimeClosed: not running.
        """
        found = await self._reader("show a scheduled message").show(_check_id(message_id))
        if found is None:
            raise ScheduledNotFound(message_id)
        return found

    async def _ask_broker(self, action: str, message: Any) -> Any:
        self._running(action)
        assert self._broker is not None
        result = await self._broker.ask(message, timeout=self.config.broker.control_timeout)
        if self.writer is not None:
            await self.writer.flush()  # what the broker submitted is committed on return
        return result

    async def retry_scheduled_now(self, message_id: str) -> EarlyRetryResult:
        """Ask for the explicit early retry of one scheduled message, under the policy's
        rules (once per cycle, ``early_wait`` after the last failure); if granted, its
        attempt starts now (the glimpse runs before it).

        Raises:
            ScheduledNotFound: no scheduled message has this id.
            MessageInFlight: its attempt is running already.
            DatabaseBusy: its row could not be read with its latest state in time.
            InvalidArgument: a malformed id. RuntimeClosed: not running.
        """
        result: EarlyRetryResult = await self._ask_broker(
            "retry a scheduled message now", RetryScheduledNow(_check_id(message_id))
        )
        return result

    async def kill_scheduled(self, message_id: str) -> str:
        """Move a scheduled message to the dead letters with reason ``killed``, in one
        transaction with its row's state and its target's retry record; return the dead
        letter's id (committed on return). A replay of it starts a fresh cycle.

        Raises:
            ScheduledNotFound: no scheduled message has this id.
            MessageInFlight: its attempt is running; nothing was changed.
            DatabaseBusy, InvalidArgument, RuntimeClosed: as :meth:`retry_scheduled_now`.
        """
        dead_letter_id: str = await self._ask_broker(
            "kill a scheduled message", KillScheduled(_check_id(message_id))
        )
        return dead_letter_id

    async def delete_scheduled(self, message_id: str) -> None:
        """Delete a scheduled message for good (its row is deleted; committed on return).
        Its target's retry record is left as it is.

        Raises:
            ScheduledNotFound: no scheduled message has this id.
            MessageInFlight: its attempt is running; nothing was changed.
            DatabaseBusy, InvalidArgument, RuntimeClosed: as :meth:`retry_scheduled_now`.
        """
        await self._ask_broker("delete a scheduled message", DeleteScheduled(_check_id(message_id)))
