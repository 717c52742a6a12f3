"""What travels in a mailbox besides a plain ``tell``: asks with their reply slot, system messages.

A ``tell`` puts the message itself into the mailbox (no wrapper to allocate); an ``ask``
wraps it in an :class:`Ask` with the future the reply goes to; system messages are
instances of :class:`SystemMessage` and travel in the mailbox's priority queue.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, final

if TYPE_CHECKING:
    import asyncio

__all__ = ("STOP", "Ask", "SystemMessage")


@final
class Ask:
    """A message plus the future its reply (or the handler's exception) is delivered to."""

    __slots__ = ("message", "reply")

    def __init__(self, message: object, reply: asyncio.Future[Any]) -> None:
        self.message = message
        self.reply = reply


class SystemMessage(enum.Enum):
    """Messages from the kernel to an actor; they overtake user messages."""

    STOP = "stop"


STOP = SystemMessage.STOP
