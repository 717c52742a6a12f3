"""Timers for actors: tasks that only ever send their actor a message.

An actor's state is touched by its own task alone, so a timer never calls into the actor:
it sleeps on the kernel's clock (fake in tests) and ``tell``s a message. Start one with
``actor.actor_start_task(timer.run, ref, clock, interval)``; it ends with the incarnation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import anyio

from ._exceptions import ActorDeadError, MailboxFull

if TYPE_CHECKING:
    from ._clock import Clock
    from ._ref import ActorRef

__all__ = ("OneShotTimer", "send_every")


@final
class OneShotTimer:
    """Sends ``message`` one interval after it is armed; arming it again meanwhile is a no-op.

    The usual write-behind shape: arm on the first change, act on the message, and the next
    change arms it again.
    """

    __slots__ = ("_armed", "_event", "_message")

    def __init__(self, message: object) -> None:
        self._message = message
        self._armed = False
        self._event = anyio.Event()

    def arm(self) -> None:
        """Make sure the message follows within one interval."""
        if not self._armed:
            self._armed = True
            self._event.set()

    async def run(self, ref: ActorRef[Any], clock: Clock, interval: float) -> None:
        """Run until the actor stops (start it as the actor's task)."""
        while True:
            await self._event.wait()
            await clock.sleep(interval)
            self._event = anyio.Event()
            self._armed = False
            try:
                ref.tell_nowait(self._message)
            except MailboxFull:
                self.arm()  # the mailbox is busy: try again one interval later
            except ActorDeadError:
                return


async def send_every(ref: ActorRef[Any], clock: Clock, interval: float, message: object) -> None:
    """Send ``message`` to ``ref`` every ``interval`` seconds of ``clock`` until it stops.

    A tick that finds the mailbox full is skipped, not queued up.
    """
    while True:
        await clock.sleep(interval)
        try:
            ref.tell_nowait(message)
        except MailboxFull:
            continue
        except ActorDeadError:
            return
