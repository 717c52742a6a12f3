"""The broker actor: owns scheduled redelivery, early-retry requests and restart recovery.

Scheduled messages wait in a heap ordered by due time; one timer task sleeps on the clock
until the earliest is due and tells the actor. A due message asks the retry gate again
(``CanRetry``, explicit when its handler asked for the early retry) and is dispatched, or
re-armed for the gate's ``retry_after``. The scheduled state itself is in the message's
row, so after a restart :meth:`Broker.on_start` re-arms every timer from the database.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import structlog
from msgspec.structs import replace

from actorgrid.kernel import Actor, Message, send_every
from actorgrid.storage import StorageError, read_connection

from .._delivery import (
    Delivery,
    delivery_from_row,
    page_scheduled,
    recover_ready,
    scheduled_of_target,
    scheduled_op,
)
from ..retry import CanRetry, CanRetryBatch
from ._core import Schedule
from ._operator import DeleteScheduled, KillScheduled, RetryScheduledNow, ScheduledOperator
from ._prune import prune_done_rows

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from ..retry import Decision
    from ._core import BrokerCore

__all__ = ("Broker", "EarlyRetryResult", "RequestEarlyRetry", "Subscribed")

_log = structlog.get_logger("actorgrid.broker")

_PAGE = 500
_DUE_BATCH = 500
"""Due deliveries decided in one ``CanRetryBatch`` round trip to the gate."""


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

    Its scheduled deliveries are in the core's :class:`Timetable`, so they outlive an
    incarnation: after a crash the restarted broker re-arms what it held, resumes the
    backlog recovery reads the crash cut short, and never arms an attempt in flight again.

    Args:
        core: the shared broker core.
        engine: the database (``None`` for a memory-only runtime).
        retention: seconds a ``done`` row is kept before pruning.
        prune_interval: seconds between prunes.
        barrier_timeout: how long an early-retry request for a row after the horizon waits
            for the writer's barrier before it answers ``database_busy``.
    """

    def __init__(
        self,
        core: BrokerCore,
        *,
        engine: AsyncEngine | None,
        retention: float,
        prune_interval: float,
        barrier_timeout: float = 2.0,
    ) -> None:
        self._core = core
        self._engine = engine
        self._retention = retention
        self._prune_interval = prune_interval
        self._barrier_timeout = barrier_timeout
        self._tt = core.timetable
        self._armed = math.inf
        self._sleep: anyio.CancelScope | None = None
        self._prune_cutoff: float | None = None
        """The cutoff of the prune asked for last; ``None`` while no prune runs."""
        self._operator = ScheduledOperator(core, engine, barrier_timeout)

    async def on_start(self) -> None:
        """Read the first page of scheduled rows (first start only), start the timer and the
        pruner, and resume whatever a crashed incarnation left: recovery reads, a refill."""
        core = self._core
        tt = self._tt
        core.scheduler = self.actor_ref
        if self._engine is None:
            tt.hold_everything()
        elif not tt.loaded:
            tt.load(await self._read_page())
            if len(tt):
                _log.info("scheduled_recovered", count=len(tt), complete=tt.complete)
        else:
            for topic in list(core.loading):
                if topic in core.subs:
                    self.actor_start_task(self._load_ready, topic, name=f"broker:recover:{topic}")
        if self._engine is not None:
            self.actor_start_task(
                send_every,
                self.actor_ref,
                self.actor_clock,
                self._prune_interval,
                _Prune(),
                name="broker:pruner",
            )
        self.actor_start_task(self._timer, name="broker:timer")
        self._arm()
        self._maybe_refill()

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
        earliest = self._tt.earliest()
        if earliest < self._armed:
            self._armed = earliest
            if self._sleep is not None:
                self._sleep.cancel()

    # -- pages of scheduled rows ----------------------------------------------------------

    async def _read_page(self) -> list[Any]:
        assert self._engine is not None
        after_at, after_id = self._tt.horizon
        params = {
            "b_after_at": after_at,
            "b_after_id": after_id,
            "b_limit": self._tt.page,
        }
        async with read_connection(self._engine) as conn:
            return list((await conn.execute(page_scheduled, params)).fetchall())

    def _maybe_refill(self) -> None:
        if self._engine is not None and self._tt.wants_page():
            self._tt.paging = True
            self.actor_start_task(self._refill, name="broker:refill")

    async def _refill(self) -> None:
        """Read the next page of scheduled rows after a writer barrier (retrying while the
        database fails), hold it and re-arm."""
        tt = self._tt
        writer = self._core.writer
        try:
            while True:
                # Rows killed or deleted before the barrier are committed before the read:
                # this page cannot see them any more, so they need not be skipped after it.
                gone = set(tt.removed)
                try:
                    if writer is not None:
                        await writer.flush()
                    rows = await self._read_page()
                    break
                except Exception as exc:
                    _log.warning("scheduled_page_failed", error=repr(exc))
                    await self.actor_clock.sleep(1.0)
            added = tt.load(rows)
            tt.removed -= gone
        finally:
            tt.paging = False
        if added:
            _log.debug("scheduled_paged", count=added, complete=tt.complete)
        self._arm()

    # -- messages ------------------------------------------------------------------------

    async def receive(self, message: Any) -> Any:
        """Handle Schedule, the timer's _Due, early-retry requests, subscriptions, pruning."""
        result: Any = None
        match message:
            case Schedule(delivery=d, at=at):
                if self._tt.schedule(d, at):
                    self._arm()
            case _Due():
                await self._release_due()
            case RequestEarlyRetry(target_type=tt, target_id=tid):
                result = await self._early(tt, tid)
            case RetryScheduledNow(message_id=mid):
                result = await self._early_by_id(mid)
            case KillScheduled(message_id=mid):
                result = await self._operator.kill(mid)
            case DeleteScheduled(message_id=mid):
                await self._operator.delete(mid)
            case Subscribed(topic=topic):
                self._subscribed(topic)
            case _Prune():
                self._prune()
            case _:
                raise TypeError(f"broker does not handle {type(message).__name__}")
        self._maybe_refill()
        return result

    async def _release_due(self) -> None:
        """Attempt every delivery due now, a batch at a time: the gate decides a batch's
        retries in one round trip (``CanRetryBatch``), in the order they came due."""
        tt = self._tt
        now = self.actor_clock.now()
        while True:
            due: list[Delivery] = []
            while len(due) < _DUE_BATCH and (d := tt.pop_due(now)) is not None:
                due.append(d)
            if not due:
                break
            await self._attempt_all(due, now)
        self._armed = math.inf
        self._arm()

    async def _attempt_all(self, due: list[Delivery], now: float) -> None:
        """Attempt ``due`` in order; whatever is not attempted when this raises stays due
        (its row is unchanged)."""
        tt = self._tt
        core = self._core
        asking = [d for d in due if not (d.early or d.granted)]
        decisions: dict[int, Decision | Exception] = {}
        if asking and core.gate is not None:
            try:
                replies: tuple[Decision | Exception, ...] = await core.ask_gate(
                    CanRetryBatch(
                        tuple(
                            CanRetry(d.target_type, d.target_id, explicit=d.early_requested)
                            for d in asking
                        )
                    )
                )
            except BaseException:
                for d in due:
                    tt.hold(d, now)
                raise
            decisions = {id(d): reply for d, reply in zip(asking, replies, strict=True)}
        for i, d in enumerate(due):
            try:
                decision = decisions.get(id(d))
                if isinstance(decision, Exception):
                    raise decision
                await self._attempt(d, decision)
            except BaseException:
                for rest in due[i:]:
                    tt.hold(rest, now)  # not attempted: it stays due
                raise

    def _rearm(self, d: Delivery, at: float) -> None:
        """Not allowed yet: due again at ``at``, in memory and in the row (which a page or a
        restart reads)."""
        core = self._core
        if d.durable and core.writer is not None:
            core.writer.submit(scheduled_op(d, at, self.actor_clock.now()))
        self._tt.schedule(d, at)

    async def _attempt(self, d: Delivery, decision: Decision | None) -> None:
        """Dispatch ``d`` as the gate's ``decision`` allows (``None``: no gate, or the gate
        allowed this attempt already), re-arm it for later, or dead-letter it."""
        core = self._core
        if d.early or d.granted:  # the gate allowed this attempt already
            core.dispatch_nowait(d)
            return
        if decision is not None:
            if not decision.allowed:
                if decision.phase == "exhausted":
                    exc = RuntimeError(f"retries exhausted for {d.target_type}:{d.target_id}")
                    await core.dead_letter(d, reason="exhausted", exc=exc, row=None)
                    return
                at = decision.retry_after
                self._rearm(d, at if at is not None else self.actor_clock.now())
                return
            phase = "base" if decision.phase == "first" else decision.phase
            d = replace(d, phase=phase, early=decision.early, granted=True)
        else:
            d = replace(d, phase="base", early=False)
        core.dispatch_nowait(d)

    async def _early(self, target_type: str, target_id: str) -> EarlyRetryResult:
        tt = self._tt
        held = tt.of_target(target_type, target_id)
        if held:
            d = min(held, key=lambda x: x.created_at)
            from_row = False
        else:
            found = await self._row_after_horizon(target_type, target_id)
            if isinstance(found, EarlyRetryResult):
                return found
            d, from_row = found, True
        return await self._grant_early(d, from_row=from_row)

    async def _early_by_id(self, message_id: str) -> EarlyRetryResult:
        """The explicit early retry of one scheduled message (not in flight), if the gate
        allows it for its target now."""
        d, place = await self._operator.locate(message_id, "retry now")
        parked = place == "parked"
        return await self._grant_early(d, from_row=place == "row", parked=parked)

    async def _grant_early(
        self, d: Delivery, *, from_row: bool, parked: bool = False
    ) -> EarlyRetryResult:
        """Ask the gate for ``d``'s explicit early retry and, if granted, dispatch it now."""
        tt = self._tt
        target_type, target_id = d.target_type, d.target_id
        core = self._core
        if core.gate is None:
            decision_phase, early, reason = "base", True, "early_retry"
        else:
            decision: Decision = await core.ask_gate(
                CanRetry(target_type, target_id, explicit=True)
            )
            if not decision.allowed:
                return EarlyRetryResult(
                    granted=False,
                    reason=decision.reason,
                    message_id=d.id,
                    retry_after=decision.retry_after,
                )
            decision_phase = "base" if decision.phase == "first" else decision.phase
            early, reason = decision.early, decision.reason
        if parked:
            self._operator.take(d, "parked")  # dispatched below: parked again if need be
        elif from_row:
            again = tt.by_id.get(d.id)  # a page read while the gate answered holds it now
            if again is not None:
                tt.take(again)
            tt.removed.add(d.id)  # and a page being read must not bring it back
            self._claim(d)
        elif not tt.take(d):
            self._claim(d)
        d = replace(d, phase=decision_phase, early=early, granted=True)
        core.dispatch_nowait(d)
        return EarlyRetryResult(granted=True, reason=reason, message_id=d.id)

    async def _row_after_horizon(
        self, target_type: str, target_id: str
    ) -> Delivery | EarlyRetryResult:
        """The target's oldest scheduled row after the horizon (not held), read after a
        writer barrier so that its state is the latest."""
        nothing = EarlyRetryResult(granted=False, reason="nothing_scheduled")
        tt = self._tt
        core = self._core
        if self._engine is None or tt.complete:
            return nothing
        if core.writer is not None:
            with anyio.move_on_after(self._barrier_timeout) as scope:
                await core.writer.flush()
            if scope.cancelled_caught:
                return EarlyRetryResult(granted=False, reason="database_busy")
        params = {"b_target_type": target_type, "b_target_id": target_id}
        async with read_connection(self._engine) as conn:
            rows = (await conn.execute(scheduled_of_target, params)).fetchall()
        for row in rows:
            if row.id not in tt.by_id and tt.after_horizon(row.available_at, row.id):
                return delivery_from_row(row)
        return nothing

    def _claim(self, d: Delivery) -> None:
        """An attempt of a row after the horizon is about to run: move its row to the
        horizon, so that no page brings it back while the attempt runs (after a restart it
        is due at once, like any attempt a crash interrupted)."""
        writer = self._core.writer
        if writer is None or not d.durable:
            return
        now = self.actor_clock.now()
        at = min(now, math.nextafter(self._tt.horizon[0], -math.inf))
        writer.submit(scheduled_op(d, at, now))

    def _subscribed(self, topic: str) -> None:
        core = self._core
        spec = core.topics.get(topic)
        if self._engine is not None and spec is not None and spec.durable:
            self.actor_start_task(self._load_ready, topic, name=f"broker:recover:{topic}")
        else:
            core.loading.pop(topic, None)

    async def _load_ready(self, topic: str) -> None:
        """Deliver the topic's ready rows that this run has not dispatched itself.

        Page by page, with backpressure; a failed read is retried. The rows of this run
        that are still ready were dispatched from memory, and their ids are in
        ``core.loading[topic]``, with the ids this read dispatched (a broker restarted
        after a crash reads again from the start and skips them all); the rows a publish or
        a replay committed and has not dispatched yet are in ``core.claimed`` (claimed
        before they were submitted, so before this read could see them).
        """
        core = self._core
        skip = core.loading.setdefault(topic, set())
        sub = core.subs.get(topic)
        while True:
            try:
                if core.writer is not None:
                    # Rows submitted before now (a publish_nowait before subscribe) are
                    # committed before the first page is read.
                    await core.writer.flush()
                await self._load_pages(topic, skip, sub)
                break
            except Exception as exc:
                _log.warning("ready_recovery_failed", topic=topic, error=repr(exc))
                await self.actor_clock.sleep(1.0)
        if core.loading.get(topic) is skip:
            del core.loading[topic]

    async def _load_pages(self, topic: str, skip: set[str], sub: Any) -> None:
        """Page through the topic's ``ready`` rows in (available_at, id) order (an index
        range: done and scheduled rows are never read)."""
        assert self._engine is not None
        after_at, after_id, total = -math.inf, "", 0
        while True:
            if self._core.subs.get(topic) is not sub:
                return  # unsubscribed: the next subscription reads for itself
            params = {
                "b_topic": topic,
                "b_after_at": after_at,
                "b_after_id": after_id,
                "b_limit": _PAGE,
            }
            async with read_connection(self._engine) as conn:
                rows = (await conn.execute(recover_ready, params)).fetchall()
            claimed = self._core.claimed
            for row in rows:
                if row.id not in skip and row.id not in claimed:
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
        lost = self._tt.transient()
        if lost:
            _log.warning("transient_scheduled_dropped", count=lost)
