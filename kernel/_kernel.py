"""The :class:`Kernel`: owns the root supervisor, the name registry, the clock and the config.

There is no process-wide registry: every lookup goes through a kernel object, so two
kernels (or two tests) never see each other's actors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar, final

import anyio
import msgspec
import structlog

from ._ask_timeouts import AskDeadlines
from ._clock import Clock, SystemClock
from ._dead_letters import DeadLetterLog
from ._exceptions import ActorError, ActorStartError, RestartLimitExceeded
from ._specs import ChildSpec, Restart, SupervisorSpec
from ._supervisor import Supervisor

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from types import TracebackType

    from anyio.abc import TaskGroup, TaskStatus

    from ._actor import Actor
    from ._cell import ActorCell
    from ._ref import ActorRef

__all__ = ("Kernel", "KernelConfig")

M = TypeVar("M")

_log = structlog.get_logger("actorgrid.kernel")


class KernelConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Kernel settings (the ``[kernel]`` section of ``actorgrid.toml``)."""

    strict_messages: bool = False
    """Round-trip every ``tell``/``ask`` through the codec (tests run with it on)."""
    mailbox_capacity: int = msgspec.field(default=1000)
    """Default mailbox capacity of an actor."""
    root_intensity: int = 10
    """Restarts the root supervisor allows within ``root_period`` before the kernel fails."""
    root_period: float = 60.0
    """The root supervisor's intensity window, in seconds."""

    def __post_init__(self) -> None:
        if self.mailbox_capacity < 1:
            raise ValueError(f"mailbox_capacity must be >= 1, got {self.mailbox_capacity}")
        if self.root_intensity < 0:
            raise ValueError(f"root_intensity must be >= 0, got {self.root_intensity}")
        if not self.root_period > 0:
            raise ValueError(f"root_period must be > 0, got {self.root_period}")


@final
class Kernel:
    """The root of an actor tree: ``async with Kernel() as kernel: ...``.

    Leaving the block stops every actor in reverse start order (each within its shutdown
    timeout; :meth:`stop` takes a bound for the whole). If the root supervisor exceeds its
    restart intensity, the block is cancelled and leaving it raises
    :class:`RestartLimitExceeded`.

    The kernel's task group lives in the task that enters the block, so a cancellation of
    that task's scopes reaches the actors too; to stop gracefully whatever happens to the
    caller, enter the kernel in a task of its own, as the runtime does (its host task).

    Args:
        config: kernel settings (defaults: :class:`KernelConfig`).
        clock: the time source (default: the system clock).
        root: the root supervisor's flags and static children; by default ``one_for_one``
            with the config's root intensity and period.
    """

    def __init__(
        self,
        config: KernelConfig | None = None,
        *,
        clock: Clock | None = None,
        root: SupervisorSpec | None = None,
    ) -> None:
        self.config = config or KernelConfig()
        self.clock: Clock = clock or SystemClock()
        self.dead_letters = DeadLetterLog()
        self._registry: dict[str, ActorCell[Any] | Supervisor] = {}
        self._root_spec = root or SupervisorSpec(
            intensity=self.config.root_intensity, period=self.config.root_period
        )
        self._root: Supervisor | None = None
        self._tg: TaskGroup | None = None
        self._failure: RestartLimitExceeded | None = None
        self._stopped = anyio.Event()
        self._background: set[anyio.CancelScope] = set()
        self.ask_deadlines = AskDeadlines(self._start_sweeper)
        """Pending timed asks (see :mod:`actorgrid.kernel._ask_timeouts`)."""

    def _start_sweeper(self) -> None:
        if self._tg is not None:
            self.start_background(self.ask_deadlines.run, name="kernel:ask-deadlines")

    # -- registry -----------------------------------------------------------------------

    def is_registered(self, name: str) -> bool:
        """Whether a live actor or supervisor has this name."""
        return name in self._registry

    def register(self, name: str, unit: ActorCell[Any] | Supervisor) -> None:
        """Record ``name`` (called by supervisors when they add a child)."""
        self._registry[name] = unit

    def unregister(self, name: str) -> None:
        """Forget ``name`` (called by supervisors when they remove a child for good)."""
        self._registry.pop(name, None)

    def lookup(self, name: str) -> ActorRef[Any]:
        """Return the ref of the actor registered as ``name``.

        Raises:
            LookupError: if no actor has that name (or it names a supervisor).
        """
        unit = self._registry.get(name)
        if unit is None or isinstance(unit, Supervisor):
            raise LookupError(f"no actor named {name!r}")
        return unit.ref

    def lookup_supervisor(self, name: str) -> Supervisor:
        """Return the supervisor registered as ``name`` (``"root"`` is the root).

        Raises:
            LookupError: if no supervisor has that name.
        """
        if name == "root" and self._root is not None:
            return self._root
        unit = self._registry.get(name)
        if not isinstance(unit, Supervisor):
            raise LookupError(f"no supervisor named {name!r}")
        return unit

    @property
    def root(self) -> Supervisor:
        """The root supervisor.

        Raises:
            ActorError: if the kernel is not running.
        """
        if self._root is None:
            raise ActorError("the kernel is not running")
        return self._root

    # -- spawning -----------------------------------------------------------------------

    async def spawn(
        self,
        factory: Callable[[], Actor[M]],
        *,
        name: str,
        restart: Restart = "permanent",
        capacity: int | None = None,
        shutdown: float | None = None,
    ) -> ActorRef[M]:
        """Start an actor under the root supervisor; returns once its ``on_start`` finished.

        Args:
            factory: builds a fresh actor instance (called again on every restart).
            name: unique name in this kernel.
            restart: ``permanent``, ``transient`` or ``temporary``.
            capacity: mailbox capacity (default: the config's).
            shutdown: seconds allowed for a graceful stop (default 5).

        Raises:
            NameTaken: if the name is in use.
            ActorStartError: if ``on_start`` raised (the cause is chained).
            ActorError: if the kernel is not running.
        """
        spec = ChildSpec(name, factory, restart, shutdown, capacity)
        ref: ActorRef[M] = await self.root.start_child(spec)
        return ref

    async def spawn_supervisor(self, name: str, spec: SupervisorSpec) -> Supervisor:
        """Start a nested supervisor (and its children, in order) under the root.

        Raises:
            NameTaken: if the name (or a child's id) is in use.
            ActorStartError: if a child failed to start.
        """
        sup: Supervisor = await self.root.start_child(ChildSpec(name, spec))
        return sup

    async def stop_actor(self, name: str) -> None:
        """Stop the root's child ``name`` for good (not restarted), within its shutdown timeout.

        Raises:
            LookupError: if the root has no such child.
        """
        await self.root.terminate_child(name)

    def start_background(
        self, fn: Callable[..., Awaitable[None]], *args: Any, name: str
    ) -> anyio.CancelScope:
        """Run ``fn(*args)`` in the kernel's task group, for timers and pumps owned by actors.

        The task ends when ``fn`` returns, when the returned scope is cancelled, or after
        every actor has stopped at kernel exit. An exception from ``fn`` is logged, not
        propagated (an actor that needs to know wraps its own work).

        Raises:
            ActorError: if the kernel is not running.
        """
        if self._tg is None:
            raise ActorError("the kernel is not running")
        scope = anyio.CancelScope()
        self._background.add(scope)

        async def runner() -> None:
            try:
                with scope:
                    await fn(*args)
            except Exception as exc:
                _log.error("background_task_failed", task=name, exc_info=exc)
            finally:
                self._background.discard(scope)

        self._tg.start_soon(runner, name=name)
        return scope

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def failure(self) -> RestartLimitExceeded | None:
        """Why the kernel failed, if the root supervisor gave up."""
        return self._failure

    async def wait_stopped(self) -> None:
        """Wait until the root supervisor has stopped (normally, or because it gave up)."""
        await self._stopped.wait()

    async def _run_root(self, *, task_status: TaskStatus[Supervisor]) -> None:
        root = self._root = Supervisor("root", self._root_spec, self)
        try:
            failure = await root.run(task_status=task_status)
        finally:
            root.finalize()
            self._stopped.set()
        if failure is not None:
            spec = self._root_spec
            child = failure.child if isinstance(failure, RestartLimitExceeded) else None
            self._failure = RestartLimitExceeded("root", spec.intensity, spec.period, child)
            self._failure.__cause__ = failure
            raise self._failure

    async def __aenter__(self) -> Kernel:
        if self._tg is not None:
            raise ActorError("a kernel can only be entered once")
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        try:
            await tg.start(self._run_root)
        except BaseException as exc:
            tg.cancel_scope.cancel()
            await tg.__aexit__(type(exc), exc, exc.__traceback__)
            if isinstance(exc, Exception):
                raise ActorStartError("root", exc) from exc
            raise
        return self

    async def stop(self, timeout: float | None = None) -> None:
        """Stop every actor in reverse start order, each within its shutdown timeout.

        Bounded by ``timeout`` seconds in all (``None``: by the shutdown timeouts alone);
        past it the stop logs ``kernel_stop_timeout`` (an error naming the root's children
        still running) and cancels what is left: their ``on_stop`` does not finish. Shielded
        from a cancellation of the caller. The kernel's task group stays open until the
        ``async with`` block is left (:meth:`aclose`).
        """
        root = self._root
        if root is None or self._stopped.is_set():
            return
        root.request_stop()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(timeout):
                await self._stopped.wait()
            if self._stopped.is_set():
                return
            _log.error(
                "kernel_stop_timeout",
                timeout=timeout,
                still_running=[c.id for c in root.which_children() if c.running],
            )
            assert self._tg is not None
            self._tg.cancel_scope.cancel()
            await self._stopped.wait()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        # Every exit is the ordered stop (each child has its own shutdown timeout, so it is
        # bounded), shielded from a cancellation of the caller.
        await self.stop()
        for scope in list(self._background):
            scope.cancel()
        if isinstance(exc, Exception):
            # The caller's own error: the tree is stopped, so the task group has nothing to
            # cancel; exiting it cleanly lets the error propagate as itself.
            exc_type, exc, tb = None, None, None
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            failure = self._failure
            if failure is not None and _only(group, RestartLimitExceeded):
                raise failure from None
            raise

    async def aclose(self) -> None:
        """Stop every actor (like leaving the ``async with`` block)."""
        await self.__aexit__(None, None, None)


def _only(group: BaseExceptionGroup[Any], kind: type[BaseException]) -> bool:
    rest = group.split(kind)[1]
    return rest is None or all(
        isinstance(e, anyio.get_cancelled_exc_class()) for e in _leaves(rest)
    )


def _leaves(group: BaseExceptionGroup[Any]) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out.extend(_leaves(e) if isinstance(e, BaseExceptionGroup) else [e])
    return out
