"""The actor base class: state lives in the instance and only its own task touches it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._exceptions import ActorError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import anyio

    from ._clock import Clock
    from ._kernel import Kernel
    from ._ref import ActorRef

__all__ = ("Actor", "UnhandledMessage")

M = TypeVar("M")


class UnhandledMessage(ActorError):
    """Raised by the default :meth:`Actor.receive` for a message the actor does not handle."""

    def __init__(self, actor: str, message: object) -> None:
        self.actor = actor
        self.message_type = type(message).__name__
        super().__init__(f"actor {actor!r} does not handle {self.message_type}")


class Actor(Generic[M]):
    """Subclass this and override :meth:`receive` (and the lifecycle hooks you need).

    The kernel creates a fresh instance from the child's factory on every (re)start, so an
    instance's attributes are its state for exactly one incarnation. Every hook runs in the
    actor's own task, one message at a time: actor code needs no locks.

    Framework-owned attributes start with ``actor_`` so subclasses cannot collide with them.

    Outcomes of :meth:`receive`:

    - returns: for an ``ask``, the return value is the reply; for a ``tell`` it is ignored;
    - raises during an ``ask``: the exception goes back to the caller and the actor keeps
      running (the caller owns that failure);
    - raises during a ``tell``: the actor crashes: :meth:`on_failure`, then :meth:`on_stop`,
      then its supervisor applies its restart strategy. The failing message is not retried.
    """

    actor_ref: ActorRef[M]
    """This actor's reference (set before :meth:`on_start`)."""
    actor_name: str
    """The registered name (the child id)."""
    actor_kernel: Kernel
    """The kernel this actor runs in."""

    @property
    def actor_clock(self) -> Clock:
        """The kernel's clock (real, or fake in tests)."""
        return self.actor_kernel.clock

    async def on_start(self) -> None:
        """Run once before the first message of this incarnation; raising fails the start."""

    async def receive(self, message: M) -> Any:
        """Handle one message; see the class docstring for what a return or a raise means.

        Raises:
            UnhandledMessage: by default, for every message.
        """
        raise UnhandledMessage(self.actor_name, message)

    async def on_failure(self, exc: Exception, message: object | None) -> None:
        """Run after :meth:`receive` raised while handling a ``tell`` (before :meth:`on_stop`)."""

    async def on_stop(self) -> None:
        """Run when this incarnation ends: on a stop, and after a crash as well."""

    def actor_start_task(
        self, fn: Callable[..., Awaitable[None]], *args: Any, name: str | None = None
    ) -> anyio.CancelScope:
        """Run ``fn(*args)`` beside this incarnation (a timer, a pump); it is cancelled when
        the incarnation ends. The task must only talk to the actor through its ref.

        Returns:
            The task's cancel scope, to stop it earlier.
        """
        scope = self.actor_kernel.start_background(
            fn, *args, name=name or f"{self.actor_name}:{getattr(fn, '__name__', 'task')}"
        )
        tasks: list[anyio.CancelScope] = self.__dict__.setdefault("_actor_tasks", [])
        tasks.append(scope)
        return scope

    def actor_stop(self) -> None:
        """Ask to stop after the current message (a normal exit; see the restart types)."""
        self.actor_ref.request_stop()
