"""``ActorRef``: the only way to talk to an actor (``tell``, ``tell_nowait``, ``ask``,
``ask_nowait``)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

import anyio

from ._codec import roundtrip
from ._envelope import STOP, Ask
from ._exceptions import ActorDeadError, AskTimeout, MailboxFull
from ._mailbox import MailboxClosed, MailboxWouldBlock

if TYPE_CHECKING:
    from ._cell import ActorCell
    from ._mailbox import MailboxStatistics

__all__ = ("ActorRef",)

M = TypeVar("M")


@final
class ActorRef(Generic[M]):
    """A handle to a supervised actor; it stays valid across the actor's restarts.

    Messages sent while the actor restarts wait in its mailbox for the next incarnation.
    Under ``strict_messages`` every message is round-tripped through the codec first, so one
    that cannot be encoded fails here, at the sender.
    """

    __slots__ = ("_cell",)

    def __init__(self, cell: ActorCell[M]) -> None:
        self._cell = cell

    @property
    def name(self) -> str:
        """The actor's registered name."""
        return self._cell.name

    @property
    def is_alive(self) -> bool:
        """Whether the actor still accepts messages (it may be restarting)."""
        return not self._cell.mailbox.closed

    def __repr__(self) -> str:
        state = "alive" if self.is_alive else "stopped"
        return f"<ActorRef {self.name!r} {state}>"

    def _dead(self, message: object, exc: BaseException | None = None) -> ActorDeadError:
        self._cell.dead_letters.report(self._cell.name, message, "actor stopped")
        err = ActorDeadError(self._cell.name)
        if exc is not None:
            err.__cause__ = exc
        return err

    async def tell(self, message: M) -> None:
        """Send ``message``; waits while the mailbox is full (backpressure).

        Raises:
            ActorDeadError: if the actor has stopped (the message is reported as a dead letter).
            MessageEncodeError: under ``strict_messages``, if the message cannot be encoded.
        """
        cell = self._cell
        if cell.strict:
            message = roundtrip(message)
        mailbox = cell.mailbox
        try:
            if not mailbox.try_put(message):  # no coroutine for put unless it must wait
                await mailbox.put(message)
        except MailboxClosed as exc:
            raise self._dead(message, exc) from None

    def tell_nowait(self, message: M) -> None:
        """Send ``message`` without waiting.

        Raises:
            MailboxFull: if the mailbox is at capacity (nothing is sent).
            ActorDeadError: if the actor has stopped (the message is reported as a dead letter).
            MessageEncodeError: under ``strict_messages``, if the message cannot be encoded.
        """
        cell = self._cell
        if cell.strict:
            message = roundtrip(message)
        try:
            cell.mailbox.put_nowait(message)
        except MailboxWouldBlock:
            raise MailboxFull(cell.name, cell.mailbox.capacity) from None
        except MailboxClosed as exc:
            raise self._dead(message, exc) from None

    async def ask(self, message: M, *, timeout: float | None = 5.0) -> Any:
        """Send ``message`` and return the actor's reply (the return value of ``receive``).

        The timeout covers both waiting for mailbox room and waiting for the reply; it is
        checked in sweeps, so it fires up to 10 ms late.

        Raises:
            AskTimeout: if no reply arrived within ``timeout`` seconds.
            ActorDeadError: if the actor stopped before replying.
            MessageEncodeError: under ``strict_messages``, if the message cannot be encoded.
            Exception: whatever the actor's ``receive`` raised for this message.
        """
        cell = self._cell
        if cell.strict:
            message = roundtrip(message)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        envelope = Ask(message, reply)
        try:
            queued = cell.mailbox.try_put(envelope)
        except MailboxClosed as exc:
            raise self._dead(message, exc) from None
        if not queued:
            return await self._ask_when_full(envelope, timeout)
        if timeout is not None:
            # No cancel scope and no timer per ask (each costs about as much as the round
            # trip): the kernel sweeps deadlines and fails the reply with AskTimeout.
            cell.kernel.ask_deadlines.track(reply, cell.name, message, timeout)
        return await reply

    def ask_nowait(self, message: M) -> asyncio.Future[Any]:
        """Send ``message`` without waiting; return the future of the actor's reply.

        For a caller that pipelines its requests: the reply, or the exception ``receive``
        raised, or ``ActorDeadError`` if the actor stops first, lands in the future, in the
        order the actor handles its mailbox. It has no deadline: the caller decides how long
        to wait (cancelling the future leaves the message queued; its reply is dropped).

        Raises:
            MailboxFull: if the mailbox is at capacity (nothing is sent).
            ActorDeadError: if the actor has stopped (the message is reported as a dead letter).
            MessageEncodeError: under ``strict_messages``, if the message cannot be encoded.
        """
        cell = self._cell
        if cell.strict:
            message = roundtrip(message)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            queued = cell.mailbox.try_put(Ask(message, reply))
        except MailboxClosed as exc:
            raise self._dead(message, exc) from None
        if not queued:
            raise MailboxFull(cell.name, cell.mailbox.capacity)
        return reply

    async def _ask_when_full(self, envelope: Ask, timeout: float | None) -> Any:
        cell, message, reply = self._cell, envelope.message, envelope.reply
        if timeout is None:
            try:
                await cell.mailbox.put(envelope)
            except MailboxClosed as exc:
                raise self._dead(message, exc) from None
            return await reply
        with anyio.move_on_after(timeout):
            try:
                await cell.mailbox.put(envelope)
            except MailboxClosed as exc:
                raise self._dead(message, exc) from None
            return await reply
        reply.cancel()
        raise AskTimeout(cell.name, message, timeout)

    def request_stop(self) -> None:
        """Ask the actor to stop after its current message (a normal exit)."""
        self._cell.mailbox.put_system(STOP)

    def mailbox_statistics(self) -> MailboxStatistics:
        """Return a snapshot of the actor's mailbox."""
        return self._cell.mailbox.statistics()
