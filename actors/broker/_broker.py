"""The broker actor: owns scheduled redelivery, early-retry requests and restart recovery.

Scheduled messages wait in a heap ordered by due time; one timer task sleeps on the clock
until the earliest is due and tells the actor. A due message asks the retry gate again
(``CanRetry``, explicit when its handler asked for the early retry) and is dispatched, or
re-armed for the gate's ``retry_after``. The scheduled state itself is in the message's
row, so after a restart :meth:`Broker.on_start` re-arms every timer from the database.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import structlog
from msgspec.structs import replace

from actorgrid.kernel import Actor, Message, send_every
from actorgrid.storage import StorageError, read_connection

from .._delivery import Delivery, delivery_from_row, recover_ready, recover_scheduled
from ..retry import CanRetry
from ._core import Schedule
from ._prune import prune_done_rows

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from ..retry import Decision
    from ._core import BrokerCore

__all__ = ("Broker", "EarlyRetryResult", "RequestEarlyRetry", "Subscribed")

_log = structlog.get_logger("actorgrid.broker")

_PAGE = 500


class RequestEarlyRetry(Message, frozen=True):
    """Ask for the explicit early retry of a target's scheduled message (reply below)."""

    target_type: str
    target_id: str


class EarlyRetryResult(msgspec.Struct, frozen=True, kw_only=True):
    """What came of an early-retry request."""

    granted: bool
    reason: str
    """``early_retry`` when granted; else the gate's reason or ``nothing_scheduled``."""
    message_id: str | None = None
    retry_after: float | None = None


class Subscribed(Message, frozen=True):
    """A topic got its subscription: deliver its ready rows from earlier runs (reply: None)."""

    topic: str


class _Due(Message, frozen=True):
    pass


class _Prune(Message, frozen=True):
    pass


class Broker(Actor[Any]):
    """The scheduling half of the broker (the message paths are in :class:`BrokerCore`).

    Args:
        core: the shared broker core.
        engine: the database (``None`` for a memory-only runtime).
        retention: seconds a ``done`` row is kept before pruning.
        prune_interval: seconds between prunes.
    """

    def __init__(
        self,
        core: BrokerCore,
        *,
        engine: AsyncEngine | None,
        retention: float,
        prune_interval: float,
    ) -> None:
        self._core = core
        self._engine = engine
        self._retention = retention
        self._prune_interval = prune_interval
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._scheduled: dict[str, Delivery] = {}
        """Scheduled deliveries by message id (the heap may hold stale entries)."""
        self._by_target: dict[tuple[str, str], str | set[str]] = {}
        self._armed = math.inf
        self._sleep: anyio.CancelScope | None = None
        self._prune_cutoff: float | None = None
        """The cutoff of the prune asked for last; ``None`` while no prune runs."""

    async def on_start(self) -> None:
        """Take the recovery cutoff, re-arm scheduled rows, start the timer and the pruner."""
        core = self._core
        core.scheduler = self.actor_ref
        if self._engine is not None:
            async with read_connection(self._engine) as conn:
                result = await conn.stream(recover_scheduled)
                async for row in result:
                    d = delivery_from_row(row)
                    self._add(d, row.available_at)
            if self._scheduled:
                _log.info("scheduled_recovered", count=len(self._scheduled))
                self._arm()
            self.actor_start_task(
                send_every,
                self.actor_ref,
                self.actor_clock,
                self._prune_interval,
                _Prune(),
                name="broker:pruner",
            )
        self.actor_start_task(self._timer, name="broker:timer")

    # -- the timer ------------------------------------------------------------------------

    async def _timer(self) -> None:
        """Sleep until the earliest due time, then tell the actor; ``_arm`` re-arms it."""
        clock = self.actor_clock
        while True:
            due = self._armed
            with anyio.CancelScope() as scope:
                self._sleep = scope
                if math.isinf(due):
                    await anyio.sleep_forever()
                else:
                    await clock.sleep_until(due)
            self._sleep = None
            if scope.cancel_called:
                continue  # re-armed for an earlier time
            self._armed = math.inf
            await self.actor_ref.tell(_Due())

    def _arm(self) -> None:
        earliest = self._heap[0][0] if self._heap else math.inf
        if earliest < self._armed:
            self._armed = earliest
            if self._sleep is not None:
                self._sleep.cancel()

    # -- state ---------------------------------------------------------------------------

    def _add(self, d: Delivery, at: float) -> None:
        self._scheduled[d.id] = d
        key = (d.target_type, d.target_id)
        ids = self._by_target.get(key)
        if ids is None:
            self._by_target[key] = d.id
        elif isinstance(ids, str):
            if ids != d.id:
                self._by_target[key] = {ids, d.id}
        else:
            ids.add(d.id)
        heapq.heappush(self._heap, (at, next(self._seq), d))

    def _take(self, d: Delivery) -> bool:
        if self._scheduled.get(d.id) is not d:
            return False
        del self._scheduled[d.id]
        key = (d.target_type, d.target_id)
        ids = self._by_target.get(key)
        if isinstance(ids, str):
            if ids == d.id:
                del self._by_target[key]
        elif ids is not None:
            ids.discard(d.id)
            if not ids:
                del self._by_target[key]
        return True

    # -- messages ------------------------------------------------------------------------

    async def receive(self, message: Any) -> Any:
        """Handle Schedule, the timer's _Due, early-retry requests, subscriptions, pruning."""
        match message:
            case Schedule(delivery=d, at=at):
                self._add(d, at)
                self._arm()
            case _Due():
                await self._release_due()
            case RequestEarlyRetry(target_type=tt, target_id=tid):
                return await self._early(tt, tid)
            case Subscribed(topic=topic):
                self._subscribed(topic)
            case _Prune():
                self._prune()
            case _:
                raise TypeError(f"broker does not handle {type(message).__name__}")
        return None

    async def _release_due(self) -> None:
        now = self.actor_clock.now()
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, d = heapq.heappop(heap)
            if not self._take(d):
                continue
            await self._attempt(d, explicit=d.early_requested)
        self._armed = math.inf
        self._arm()

    async def _attempt(self, d: Delivery, *, explicit: bool) -> None:
        core = self._core
        if d.early:  # the gate granted this early retry when the failure was recorded
            await core.dispatch(d)
            return
        if core.gate is not None:
            decision: Decision = await core.ask_gate(
                CanRetry(d.target_type, d.target_id, explicit=explicit)
            )
            if not decision.allowed:
                if decision.phase == "exhausted":
                    exc = RuntimeError(f"retries exhausted for {d.target_type}:{d.target_id}")
                    await core.dead_letter(d, reason="exhausted", exc=exc, row=None)
                    return
                at = decision.retry_after
                self._add(d, at if at is not None else self.actor_clock.now())
                return
            phase = "base" if decision.phase == "first" else decision.phase
            d = replace(d, phase=phase, early=decision.early)
        else:
            d = replace(d, phase="base", early=False)
        await core.dispatch(d)

    async def _early(self, target_type: str, target_id: str) -> EarlyRetryResult:
        found = self._by_target.get((target_type, target_id))
        ids = (found,) if isinstance(found, str) else found
        if not ids:
            return EarlyRetryResult(granted=False, reason="nothing_scheduled")
        d = min((self._scheduled[i] for i in ids), key=lambda x: x.created_at)
        core = self._core
        if core.gate is None:
            self._take(d)
            d = replace(d, phase="base", early=True)
            await core.dispatch(d)
            return EarlyRetryResult(granted=True, reason="early_retry", message_id=d.id)
        decision: Decision = await core.ask_gate(CanRetry(target_type, target_id, explicit=True))
        if not decision.allowed:
            return EarlyRetryResult(
                granted=False,
                reason=decision.reason,
                message_id=d.id,
                retry_after=decision.retry_after,
            )
        self._take(d)
        phase = "base" if decision.phase == "first" else decision.phase
        d = replace(d, phase=phase, early=decision.early)
        await core.dispatch(d)
        return EarlyRetryResult(granted=True, reason=decision.reason, message_id=d.id)

    def _subscribed(self, topic: str) -> None:
        core = self._core
        spec = core.topics.get(topic)
        if self._engine is not None and spec is not None and spec.durable:
            self.actor_start_task(self._load_ready, topic, name=f"broker:recover:{topic}")
        else:
            core.loading.pop(topic, None)

    async def _load_ready(self, topic: str) -> None:
        """Deliver the topic's ready rows that this run has not dispatched itself.

        Page by page, with backpressure. The rows of this run that are still ready were
        dispatched from memory, and their ids are in ``core.loading[topic]``.
        """
        skip = self._core.loading.setdefault(topic, set())
        try:
            await self._load_pages(topic, skip)
        finally:
            self._core.loading.pop(topic, None)

    async def _load_pages(self, topic: str, skip: set[str]) -> None:
        """Page through the topic's ``ready`` rows in (available_at, id) order (an index
        range: done and scheduled rows are never read)."""
        assert self._engine is not None
        after_at, after_id, total = -math.inf, "", 0
        while True:
            params = {
                "b_topic": topic,
                "b_after_at": after_at,
                "b_after_id": after_id,
                "b_limit": _PAGE,
            }
            async with read_connection(self._engine) as conn:
                rows = (await conn.execute(recover_ready, params)).fetchall()
            for row in rows:
                if row.id not in skip:
                    await self._core.dispatch(delivery_from_row(row))
                    total += 1
            if len(rows) < _PAGE:
                break
            after_at, after_id = rows[-1].available_at, rows[-1].id
        if total:
            _log.info("ready_recovered", topic=topic, count=total)

    def _prune(self) -> None:
        """Prune old ``done`` rows in the background; a prune asked for while one runs is
        run right after it (with this cutoff), not dropped."""
        writer = self._core.writer
        if writer is None or self._engine is None:
            return
        running = self._prune_cutoff is not None
        self._prune_cutoff = self.actor_clock.now() - self._retention
        if not running:
            self.actor_start_task(self._prune_batches, name="broker:prune")

    async def _prune_batches(self) -> None:
        assert self._engine is not None
        assert self._core.writer is not None
        done: float | None = None
        try:
            while self._prune_cutoff != done:
                done = self._prune_cutoff
                assert done is not None
                deleted = await prune_done_rows(self._engine, self._core.writer, done)
                if deleted:
                    _log.info("done_pruned", count=deleted)
        except StorageError as exc:
            _log.warning("done_prune_failed", error=f"{type(exc).__name__}: {exc}")
        finally:
            self._prune_cutoff = None

    async def on_stop(self) -> None:
        """Scheduled deliveries stay in their rows (durable); transient ones are reported."""
        lost = sum(1 for d in self._scheduled.values() if not d.durable)
        if lost:
            _log.warning("transient_scheduled_dropped", count=lost)
