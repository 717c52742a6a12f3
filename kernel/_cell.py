"""The cell of one supervised actor: its mailbox, its ref, and the loop of each incarnation.

The cell outlives incarnations: a restart builds a new actor instance from the factory but
keeps the mailbox, so refs stay valid and messages sent meanwhile wait for the new one.
"""

from __future__ import annotations

from asyncio import CancelledError
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

import structlog
from anyio.lowlevel import checkpoint

from ._cancellation import being_cancelled, stray_failure
from ._envelope import STOP, Ask, SystemMessage
from ._exceptions import ActorDeadError
from ._mailbox import EMPTY, Mailbox
from ._ref import ActorRef

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.abc import TaskStatus

    from ._actor import Actor
    from ._dead_letters import DeadLetterLog
    from ._kernel import Kernel

__all__ = ("ActorCell",)

M = TypeVar("M")

_log = structlog.get_logger("actorgrid.kernel")

_BURST = 256
"""Messages an actor handles back to back before it yields to the event loop."""


@final
class ActorCell(Generic[M]):
    """Owns one actor's mailbox and runs its incarnations (see :meth:`run`)."""

    __slots__ = ("dead_letters", "factory", "kernel", "mailbox", "name", "ref", "strict")

    def __init__(
        self, name: str, factory: Callable[[], Actor[M]], capacity: int, kernel: Kernel
    ) -> None:
        self.name = name
        self.factory = factory
        self.kernel = kernel
        self.mailbox: Mailbox[Any] = Mailbox(capacity)
        self.strict = kernel.config.strict_messages
        self.dead_letters: DeadLetterLog = kernel.dead_letters
        self.ref: ActorRef[M] = ActorRef(self)

    @property
    def handle(self) -> ActorRef[M]:
        """What ``spawn``/``start_child`` hand back for this child."""
        return self.ref

    def request_stop(self) -> None:
        """Ask the running incarnation to stop after its current message."""
        self.mailbox.put_system(STOP)

    async def run(self, *, task_status: TaskStatus[ActorRef[M]]) -> Exception | None:
        """Run one incarnation: ``on_start``, then messages until a stop or a crash.

        Returns:
            ``None`` after a normal stop, or the exception that crashed the actor.

        Raises:
            Exception: whatever ``on_start`` raised (the incarnation never started).
        """
        for pending in self.mailbox.drain_system():
            if pending is not STOP:  # a stop meant for the previous incarnation is spent
                self.mailbox.put_system(pending)
        actor = self.factory()
        actor.actor_ref = self.ref
        actor.actor_name = self.name
        actor.actor_kernel = self.kernel
        try:
            await actor.on_start()
            task_status.started(self.ref)
            del task_status  # not needed while the actor lives
            # The message loop is inlined here: one coroutine frame less per idle actor.
            mailbox = self.mailbox
            poll = mailbox.poll
            receive = actor.receive
            burst = 0
            while True:
                item: Any = poll()  # no coroutine while messages are waiting
                if item is EMPTY:
                    burst = 0
                    waiter = mailbox.waiter()
                    try:
                        await waiter
                    finally:
                        mailbox.drop_waiter(waiter)
                    continue
                burst += 1
                if burst >= _BURST:
                    # A full mailbox and handlers that never wait would otherwise keep the
                    # loop to themselves: yield now and then, so others run and a
                    # cancellation can land.
                    burst = 0
                    await checkpoint()
                cls = type(item)
                if cls is Ask:
                    reply = item.reply
                    try:
                        result = await receive(item.message)
                    except Exception as exc:
                        if not reply.done():
                            reply.set_exception(exc)
                    except BaseException as exc:
                        # A real stop (or a stray cancellation, which is the handler's
                        # failure): either way the asker gets an answer and never hangs.
                        if isinstance(exc, CancelledError) and not being_cancelled():
                            if not reply.done():
                                reply.set_exception(stray_failure(exc))
                            continue
                        if not reply.done():
                            reply.set_exception(ActorDeadError(self.name))
                        raise
                    else:
                        if not reply.done():
                            reply.set_result(result)
                elif cls is SystemMessage:
                    if item is STOP:
                        await self._hook(actor.on_stop(), "on_stop")
                        return None
                else:
                    try:
                        await receive(item)
                    except Exception as exc:
                        return await self._crashed(actor, exc, item)
                    except CancelledError as cancelled:
                        return await self._crashed(actor, stray_failure(cancelled), item)
        finally:
            for scope in actor.__dict__.get("_actor_tasks", ()):
                scope.cancel()

    async def _crashed(self, actor: Actor[M], exc: Exception, message: object) -> Exception:
        _log.error(
            "actor_crashed",
            actor=self.name,
            message_type=type(message).__name__,
            exc_info=exc,
        )
        await self._hook(actor.on_failure(exc, message), "on_failure")
        await self._hook(actor.on_stop(), "on_stop")
        return exc

    async def _hook(self, coro: Any, hook: str) -> None:
        try:
            await coro
        except Exception as exc:
            _log.error("actor_hook_failed", actor=self.name, hook=hook, exc_info=exc)

    def finalize(self) -> None:
        """Close the mailbox for good and report what is left in it as dead letters."""
        self.mailbox.close()
        for item in self.mailbox.drain():
            if type(item) is Ask:
                self.dead_letters.report(self.name, item.message, "actor stopped")
                if not item.reply.done():
                    item.reply.set_exception(ActorDeadError(self.name))
            else:
                self.dead_letters.report(self.name, item, "actor stopped")
        self.mailbox.drain_system()
