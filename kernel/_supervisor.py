"""OTP supervision: restart strategies, restart types, intensity, backoff, ordered shutdown.

A :class:`Supervisor` owns a task group; each child runs in its own task inside it, under
its own cancel scope. A child task never lets an exception into the group: a crash is
reported to the supervisor's loop, which applies the strategy. Only the supervisor's loop
restarts children, so restarts are serialised without locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, final

import anyio
import structlog

from ._cell import ActorCell
from ._exceptions import ActorError, ActorStartError, NameTaken, RestartLimitExceeded
from ._specs import SupervisorSpec

if TYPE_CHECKING:
    from anyio.abc import TaskGroup, TaskStatus
    from anyio.streams.memory import MemoryObjectSendStream

    from ._kernel import Kernel
    from ._specs import ChildSpec

__all__ = ("ChildInfo", "Supervisor", "SupervisorStatistics")

_log = structlog.get_logger("actorgrid.kernel")


@dataclass(frozen=True, slots=True)
class ChildInfo:
    """One child as :meth:`Supervisor.which_children` reports it."""

    id: str
    restart: str
    supervisor: bool
    """Whether the child is itself a supervisor."""
    running: bool
    restarts: int = 0
    """Times this child was restarted (its incarnations after the first)."""


@dataclass(frozen=True, slots=True)
class SupervisorStatistics:
    """A snapshot of a supervisor."""

    name: str
    strategy: str
    children: tuple[str, ...]
    """Child ids in start order."""
    running: int
    """Children whose task is running now."""
    restarts_in_window: int
    """Restarts within the last ``period`` seconds (what intensity is checked against)."""
    total_restarts: int
    """Restarts since the supervisor was created."""
    intensity: int
    period: float


class _Child:
    """A supervised child: its spec, its unit (actor cell or supervisor) and its task state."""

    __slots__ = (
        "_done",
        "finished",
        "handle",
        "incarnation",
        "removed",
        "running",
        "scope",
        "spec",
        "stopping",
        "unit",
    )

    def __init__(self, spec: ChildSpec, unit: ActorCell[Any] | Supervisor) -> None:
        self.spec = spec
        self.unit = unit
        self.scope: anyio.CancelScope | None = None
        self.handle: Any = None
        """The anyio task handle (anyio >= 4.14), which can cancel the task itself."""
        self.finished = True
        """Whether no task of this child is running."""
        self._done: anyio.Event | None = None  # created only when someone waits
        self.incarnation = 0
        self.running = False
        self.stopping = False
        self.removed = False

    def started(self) -> None:
        self.finished = False
        self._done = None

    def kill(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
        elif self.scope is not None:
            self.scope.cancel()

    def ended(self) -> None:
        self.finished = True
        if self._done is not None:
            self._done.set()

    async def wait_finished(self) -> None:
        if not self.finished:
            if self._done is None:
                self._done = anyio.Event()
            await self._done.wait()


_STOP = object()


class _Started:
    """The ``task_status`` handed to a unit: ``started()`` resolves the starter's future."""

    __slots__ = ("_future",)

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self._future = future

    def started(self, value: Any = None) -> None:
        if not self._future.done():
            self._future.set_result(value)


@final
class Supervisor:
    """Starts its children in order, restarts them by its strategy, stops them in reverse.

    Create supervisors through the kernel (``Kernel(root=...)``, a ``ChildSpec`` whose
    ``start`` is a :class:`SupervisorSpec`, or :meth:`start_child` on a running one).
    """

    def __init__(self, name: str, spec: SupervisorSpec, kernel: Kernel) -> None:
        self.name = name
        self.spec = spec
        self._kernel = kernel
        self._children: list[_Child] = []
        self._restarts: deque[float] = deque()
        self._total_restarts = 0
        self._tg: TaskGroup | None = None
        self._events: MemoryObjectSendStream[Any] | None = None
        self._stop_requested = False
        self._backoff_scope: anyio.CancelScope | None = None
        self._random = random.Random()
        for child_spec in spec.children:
            self._add(child_spec)

    @property
    def handle(self) -> Supervisor:
        """What ``start_child`` hands back for a nested supervisor: the supervisor itself."""
        return self

    # -- children -------------------------------------------------------------------------

    def _add(self, spec: ChildSpec) -> _Child:
        kernel = self._kernel
        if kernel.is_registered(spec.id):  # every child is registered while it is a child
            raise NameTaken(spec.id)
        unit: ActorCell[Any] | Supervisor
        if isinstance(spec.start, SupervisorSpec):
            unit = Supervisor(spec.id, spec.start, kernel)
        else:
            capacity = spec.capacity or kernel.config.mailbox_capacity
            unit = ActorCell(spec.id, spec.start, capacity, kernel)
        child = _Child(spec, unit)
        kernel.register(spec.id, unit)
        self._children.append(child)
        return child

    def _remove(self, child: _Child) -> None:
        child.removed = True
        if child in self._children:
            self._children.remove(child)
        child.unit.finalize()
        self._kernel.unregister(child.spec.id)

    async def _run_child(self, child: _Child, started: asyncio.Future[Any]) -> None:
        if started.done():
            return  # the starter was cancelled before this task ran
        child.incarnation += 1
        incarnation = child.incarnation
        child.stopping = False
        child.started()
        result: BaseException | None = None
        # With a task handle the handle's own scope can cancel this task; otherwise this
        # task needs a scope of its own (about 600 bytes per actor).
        scope = anyio.CancelScope() if child.handle is None else contextlib.nullcontext()
        try:
            with scope:
                child.scope = scope if isinstance(scope, anyio.CancelScope) else None
                child.running = True
                try:
                    result = await child.unit.run(task_status=_Started(started))
                except Exception as exc:
                    if started.done():
                        raise  # units report crashes by returning them: this is a kernel bug
                    started.set_exception(exc)
                    return
        finally:
            child.running = False
            child.ended()
            if not started.done():
                started.cancel()
        if child.stopping or self._events is None:
            return
        if isinstance(scope, anyio.CancelScope) and scope.cancelled_caught:
            return
        self._events.send_nowait((child, incarnation, result))

    async def _start(self, child: _Child) -> None:
        """Start the child's task; return once it reported started (its ``on_start`` ran).

        The handshake is a bare future rather than ``TaskGroup.start``: an idle actor then
        carries no start-up scope and status objects (about 1 KB each).
        """
        assert self._tg is not None
        started: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        name = f"actor:{child.spec.id}"
        create_task = getattr(self._tg, "create_task", None)
        if create_task is not None:
            child.handle = create_task(self._run_child(child, started), name=name)
        else:
            child.handle = None
            self._tg.start_soon(self._run_child, child, started, name=name)
        try:
            await started
        except BaseException:
            if not started.done() or started.cancelled():
                child.kill()  # cancelled while the child was starting: it must not live on
            raise

    async def _stop(self, child: _Child) -> None:
        if not child.running:
            return
        child.stopping = True
        child.unit.request_stop()
        timeout = child.spec.shutdown_timeout
        with anyio.move_on_after(timeout if math.isfinite(timeout) else None):
            await child.wait_finished()
        if not child.finished:
            _log.warning("child_killed", supervisor=self.name, child=child.spec.id, after=timeout)
            child.kill()
            await child.wait_finished()

    async def _stop_all(self, children: list[_Child] | None = None) -> None:
        order = list(reversed(children if children is not None else list(self._children)))
        if self.spec.stop_order == "parallel" and len(order) > 1:
            async with anyio.create_task_group() as tg:
                for child in order:
                    tg.start_soon(self._stop, child)
            return
        for child in order:
            await self._stop(child)

    async def start_child(self, spec: ChildSpec) -> Any:
        """Add a child and start it; returns once its ``on_start`` has finished.

        Returns:
            The child's :class:`ActorRef`, or the nested :class:`Supervisor`.

        Raises:
            NameTaken: if the id is already used in this kernel (nothing is started).
            ActorStartError: if the child failed to start (it is not kept).
            ActorError: if this supervisor is not running.
        """
        if self._tg is None:
            raise ActorError(f"supervisor {self.name!r} is not running")
        child = self._add(spec)
        try:
            await self._start(child)
        except Exception as exc:
            self._remove(child)
            raise ActorStartError(spec.id, exc) from exc
        return child.unit.handle

    async def terminate_child(self, child_id: str) -> None:
        """Stop a child (within its shutdown timeout) and remove it; it is not restarted.

        Raises:
            LookupError: if this supervisor has no child with that id.
        """
        for child in self._children:
            if child.spec.id == child_id:
                child.removed = True
                await self._stop(child)
                self._remove(child)
                return
        raise LookupError(f"supervisor {self.name!r} has no child {child_id!r}")

    def which_children(self) -> list[ChildInfo]:
        """Return the children in start order."""
        return [
            ChildInfo(
                c.spec.id,
                c.spec.restart,
                c.spec.is_supervisor,
                c.running,
                max(0, c.incarnation - 1),
            )
            for c in self._children
        ]

    def statistics(self) -> SupervisorStatistics:
        """Return a snapshot of children and restart counts."""
        now = self._kernel.clock.monotonic()
        in_window = sum(1 for t in self._restarts if now - t < self.spec.period)
        return SupervisorStatistics(
            name=self.name,
            strategy=self.spec.strategy,
            children=tuple(c.spec.id for c in self._children),
            running=sum(1 for c in self._children if c.running),
            restarts_in_window=in_window,
            total_restarts=self._total_restarts,
            intensity=self.spec.intensity,
            period=self.spec.period,
        )

    # -- one incarnation ----------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the supervisor to stop all its children in reverse order and return.

        A restart delay (backoff) in progress is cut short: the stop does not wait for it.
        """
        if self._events is not None:
            self._events.send_nowait(_STOP)
            self._stop_requested = True
            if self._backoff_scope is not None:
                self._backoff_scope.cancel()

    async def run(self, *, task_status: TaskStatus[Supervisor]) -> Exception | None:
        """Run one incarnation: start the children in order, then supervise them.

        Returns:
            ``None`` after a requested stop, or :class:`RestartLimitExceeded` after it
            stopped every child because they crashed too often.

        Raises:
            Exception: a child's start failure during the initial start (children already
                started are stopped again first).
        """
        send, receive = anyio.create_memory_object_stream[Any](math.inf)
        self._restarts.clear()
        self._stop_requested = False
        async with anyio.create_task_group() as tg:
            self._tg = tg
            self._events = send
            try:
                for child in list(self._children):
                    if not child.removed:
                        await self._start(child)
            except BaseException:
                self._events = None
                send.close()
                receive.close()
                await self._stop_all()
                self._tg = None
                raise
            task_status.started(self)
            try:
                async with receive:
                    async for event in receive:
                        if event is _STOP:
                            break
                        failure = await self._on_exit(*event)
                        if failure is not None:
                            return failure
            finally:
                self._events = None
                send.close()
                with anyio.CancelScope(shield=True):
                    await self._stop_all()
                self._tg = None
        return None

    def _restart_allowed(self, child: _Child, crashed: bool) -> bool:
        restart = child.spec.restart
        return restart == "permanent" or (restart == "transient" and crashed)

    def _note_restart(self) -> bool:
        """Record a restart; return True when it exceeds the intensity."""
        now = self._kernel.clock.monotonic()
        window = self._restarts
        window.append(now)
        while window and now - window[0] >= self.spec.period:
            window.popleft()
        self._total_restarts += 1
        return len(window) > self.spec.intensity

    async def _escalate(self, child: _Child, error: BaseException | None) -> RestartLimitExceeded:
        _log.error(
            "restart_limit_exceeded",
            supervisor=self.name,
            child=child.spec.id,
            intensity=self.spec.intensity,
            period=self.spec.period,
            error=repr(error) if error is not None else None,
        )
        await self._stop_all()
        return RestartLimitExceeded(self.name, self.spec.intensity, self.spec.period, child.spec.id)

    async def _on_exit(
        self, child: _Child, incarnation: int, result: BaseException | None
    ) -> RestartLimitExceeded | None:
        if child.removed or incarnation != child.incarnation or child.running:
            return None  # stale: the child was removed or restarted meanwhile
        crashed = result is not None
        _log.info("child_exited", supervisor=self.name, child=child.spec.id, crashed=crashed)
        if not self._restart_allowed(child, crashed):
            self._remove(child)
            return None
        if self._note_restart():
            return await self._escalate(child, result)
        index = self._children.index(child)
        strategy = self.spec.strategy
        if strategy == "one_for_one":
            affected = [child]
        elif strategy == "one_for_all":
            affected = list(self._children)
        else:
            affected = self._children[index:]
        await self._stop_all([c for c in affected if c is not child])
        for sibling in affected:
            if sibling is not child and sibling.spec.restart == "temporary":
                self._remove(sibling)
        await self._backoff()
        if self._stop_requested:
            return None  # the loop takes the stop next; restarting first would be wasted
        for target in affected:
            if target.removed:
                continue
            failure = await self._restart(target)
            if failure is not None:
                return failure
        return None

    async def _backoff(self) -> None:
        delay = self.spec.restart_delay(len(self._restarts), self._random.random())
        if delay > 0 and not self._stop_requested:
            with anyio.CancelScope() as scope:
                self._backoff_scope = scope
                try:
                    await self._kernel.clock.sleep(delay)
                finally:
                    self._backoff_scope = None

    async def _restart(self, child: _Child) -> RestartLimitExceeded | None:
        while True:
            try:
                await self._start(child)
            except Exception as exc:
                _log.error(
                    "child_restart_failed", supervisor=self.name, child=child.spec.id, exc_info=exc
                )
                if self._note_restart():
                    return await self._escalate(child, exc)
                await self._backoff()
                if self._stop_requested:
                    return None
                continue
            _log.info("child_restarted", supervisor=self.name, child=child.spec.id)
            return None

    def finalize(self) -> None:
        """Remove every child for good (closing mailboxes, reporting dead letters)."""
        for child in list(self._children):
            self._remove(child)
