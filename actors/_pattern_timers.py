"""The pattern engine's timers: they only send the engine a message, never touch its state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, final

import anyio

from actorgrid.kernel import ActorDeadError, MailboxFull, Message

if TYPE_CHECKING:
    from actorgrid.kernel import ActorRef, Clock

__all__ = ("FLUSH_FAILURES", "SAVE_INDEX", "FlushFailures", "OneShotTimer", "SaveIndex", "every")


class FlushFailures(Message, frozen=True):
    """Sent by the engine's timer to the engine: index the buffered failures."""


class SaveIndex(Message, frozen=True):
    """Sent by the engine's timer to the engine: save the index if it changed."""


FLUSH_FAILURES: Final = FlushFailures()
SAVE_INDEX: Final = SaveIndex()


@final
class OneShotTimer:
    """Sends its message one interval after it is armed (arming again meanwhile is a no-op)."""

    __slots__ = ("_armed", "_event", "_message")

    def __init__(self, message: Message) -> None:
        self._message = message
        self._armed = False
        self._event = anyio.Event()

    def arm(self) -> None:
        """Make sure the message follows within one interval."""
        if not self._armed:
            self._armed = True
            self._event.set()

    async def run(self, ref: ActorRef[Any], clock: Clock, interval: float) -> None:
        """Run until the actor stops (its background task; cancelled with the incarnation)."""
        while True:
            await self._event.wait()
            await clock.sleep(interval)
            self._event = anyio.Event()
            self._armed = False
            try:
                ref.tell_nowait(self._message)
            except MailboxFull:
                self.arm()  # busy: try again one interval later
            except ActorDeadError:
                return


async def every(ref: ActorRef[Any], clock: Clock, interval: float, message: Message) -> None:
    """Send ``message`` to ``ref`` every ``interval`` seconds of ``clock`` until it stops."""
    while True:
        await clock.sleep(interval)
        try:
            ref.tell_nowait(message)
        except MailboxFull:
            continue
        except ActorDeadError:
            return
