"""The broker's message paths: publish, dispatch to workers, ack, nack, dead-letter.

:class:`BrokerCore` is shared by the publishers, the subscription workers and the broker
actor. Everything here runs on the event loop's single thread; the only state it changes
is its counters and its dispatch tables (which workers a topic has). Retry state is the
retry gate's; timers are the broker actor's.

Durability: a durable publish returns after its row is committed. A state change (done,
scheduled, dead) is submitted together with the target's retry record and, for a dead
message, its dead letter: one submission, one transaction.
"""

from __future__ import annotations

import random
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import structlog
from msgspec.structs import replace

from actorgrid.kernel import Message, MessageEncodeError, encode
from actorgrid.storage import KEY_MAX_LENGTH, Op

from .._delivery import (
    Delivery,
    done_op,
    insert_op,
    new_message_id,
    scheduled_op,
)
from .._exceptions import (
    BrokerFull,
    InvalidArgument,
    InvalidPayload,
    NoSubscriber,
    TopicConflict,
    UnknownTopic,
)
from ..dead_letters import DeadLetterEntry, FileDeadLetter, dead_letter_insert
from ..patterns import FailureContext, NoteFailure, NoteOutcome
from ..retry import (
    FailureOutcome,
    RecordFailure,
    RecordSuccess,
    Submitted,
    retry_record_upsert,
    validate_target,
)
from ._counters import TopicCounters, TopicMetrics
from ._failures import FailureBatches
from ._queue import QueueClosed
from ._receipt import PublishReceipt
from ._stall import StallWatch
from ._timetable import Timetable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from actorgrid.kernel import ActorRef, Clock
    from actorgrid.storage import Receipt, Writer

    from ._failures import PendingFailure
    from ._queue import WorkQueue
    from ._types import FallbackPolicy, Handler, Subscription, TopicSpec

__all__ = ("BrokerCore", "BrokerStatistics", "Schedule", "SubscriptionState")

_log = structlog.get_logger("actorgrid.broker")


_TRACEBACK_LIMIT = 8000
_NO_HEADERS: dict[str, str] = {}


class Schedule(Message, frozen=True):
    """To the broker actor: deliver ``delivery`` at ``at`` (epoch seconds)."""

    delivery: Delivery
    at: float


@dataclass(slots=True)
class SubscriptionState:
    """A live subscription: its spec, its workers and how payloads are decoded."""

    spec: Subscription
    handler: Handler
    decode: Callable[[bytes], Any]
    queue: WorkQueue
    counters: TopicCounters
    """The topic's counters (``BrokerCore.counters_for``: the same for each subscription
    the topic gets)."""
    workers: list[ActorRef[Delivery]] = field(default_factory=list)
    running: int = 0
    """Deliveries in progress now: decoding, waiting for references, in the handler, or
    waiting for the gate and the writer with their ack, nack or dead letter."""


@dataclass(frozen=True, slots=True)
class BrokerStatistics:
    """A snapshot of the broker's counters."""

    published: int
    acked: int
    """Handler attempts that returned."""
    failed: int
    """Handler attempts that raised."""
    scheduled: int
    dead: int
    queued: int
    """Messages waiting for a worker now."""
    running: int
    """Deliveries in progress now (handler running, or its references, ack or nack)."""


class BrokerCore:
    """Publish and delivery paths shared by the runtime, the workers and the broker actor."""

    def __init__(
        self,
        *,
        clock: Clock,
        writer: Writer | None,
        dialect: str | None,
        fallback: FallbackPolicy,
        reference_timeout: float = 2.0,
        stall_warning: float = 5.0,
        scheduled_page: int = 500,
        max_parked: int = 10_000,
        park_retry_delay: float = 60.0,
        max_error_types: int = 50,
    ) -> None:
        self.clock = clock
        self.stall_warning = stall_warning
        self._stalls = StallWatch(stall_warning)
        self.failures = FailureBatches(lambda: self.gate, self._decided, self._stalls)
        """Handler failures on their way to the gate (see ``nack``)."""
        self.writer = writer
        self.fallback = fallback
        self.reference_timeout = reference_timeout
        self.pattern_notes_dropped = 0
        """Failure notes the pattern engine's full (or closed) mailbox refused."""
        self.gate: ActorRef[Any] | None = None
        self.pattern: ActorRef[Any] | None = None
        self.scheduler: ActorRef[Any] | None = None
        self.dead_letters: ActorRef[Any] | None = None
        self.topics: dict[str, TopicSpec] = {}
        self.subs: dict[str, SubscriptionState] = {}
        self.parked: dict[str, list[Delivery]] = {}
        """Retries of topics without a subscription (see :meth:`park`)."""
        self.max_parked = max_parked
        self.park_retry_delay = park_retry_delay
        self.timetable = Timetable(scheduled_page)
        """The broker actor's scheduled deliveries (they outlive its incarnations)."""
        self.loading: dict[str, set[str]] = {}
        """While a topic's earlier rows are loaded: ids this run dispatched from memory."""
        self.claimed: set[str] = set()
        """Ids of rows a publish or a replay submitted and has not dispatched yet (see
        :meth:`claim`): a backlog recovery skips them, their publisher delivers them."""
        self._upsert = retry_record_upsert(dialect) if dialect else None
        self._random = random.Random()
        self.publishing = 0
        """Publishes in progress (between their call and their dispatch): drain waits."""
        self.max_error_types = max_error_types
        self.counters: dict[str, TopicCounters] = {}
        """Per topic: published, handled, failed, retried, dead-lettered, handler latency
        (the totals of :meth:`statistics` are their sums)."""
        self.scheduled = 0

    # -- topics and publishing ----------------------------------------------------------

    def declare(self, spec: TopicSpec) -> None:
        """Declare a topic; declaring it again with the same settings is a no-op.

        Raises:
            InvalidArgument: bad name, or a durable topic without a database.
            TopicConflict: the topic exists with other settings.
        """
        name = spec.name
        if not isinstance(name, str) or not name or len(name) > KEY_MAX_LENGTH:
            raise InvalidArgument("topic name", name, f"1 to {KEY_MAX_LENGTH} characters")
        if spec.durable and self.writer is None:
            raise InvalidArgument("durable", True, "a database for durable topics")
        known = self.topics.get(name)
        if known is not None and known != spec:
            raise TopicConflict(name, f"already declared as {known}")
        self.topics[name] = spec
        self.counters_for(name)

    def counters_for(self, topic: str) -> TopicCounters:
        """Return the topic's counters, created on first use (a scheduled row read back
        after a restart may belong to a topic this run has not declared yet)."""
        counters = self.counters.get(topic)
        if counters is None:
            counters = self.counters[topic] = TopicCounters(self.max_error_types)
        return counters

    def topic_metrics(self) -> list[TopicMetrics]:
        """Return a snapshot of every topic's counters, by topic name."""
        return [self.counters[name].snapshot(name) for name in sorted(self.counters)]

    def _count_published(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        topic = deliveries[0].topic
        if all(d.topic == topic for d in deliveries):
            self.counters_for(topic).published += len(deliveries)
            return
        for d in deliveries:
            self.counters_for(d.topic).published += 1

    def topic(self, name: str) -> TopicSpec:
        """Return a declared topic.

        Raises:
            UnknownTopic: it was never declared.
        """
        spec = self.topics.get(name)
        if spec is None:
            raise UnknownTopic(name)
        return spec

    def build(
        self,
        topic: str,
        payload: object,
        target: tuple[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> Delivery:
        """Validate and encode one publish; nothing is stored or sent yet.

        Raises:
            UnknownTopic, InvalidPayload, InvalidTarget, InvalidArgument.
        """
        spec = self.topics.get(topic)
        if spec is None:
            raise UnknownTopic(topic)
        kind = spec.payload_type
        if kind is not None and isinstance(kind, type) and not isinstance(payload, kind):
            raise InvalidPayload(topic, f"expected {kind.__name__}, got {type(payload).__name__}")
        try:
            data = encode(payload)
        except MessageEncodeError as exc:
            raise InvalidPayload(topic, str(exc)) from None
        message_id = new_message_id()
        if target is None:
            target_type, target_id = topic, message_id
        else:
            if not isinstance(target, tuple) or len(target) != 2:
                raise InvalidArgument("target", target, "a (target_type, target_id) pair")
            target_type, target_id = target
            validate_target(target_type, target_id)
        if not headers:
            header_map: dict[str, str] = _NO_HEADERS
        else:
            header_map = dict(headers)
            for key, value in header_map.items():
                if not isinstance(key, str) or not isinstance(value, str):
                    raise InvalidArgument("header", (key, value), "str keys and str values")
        return Delivery(
            id=message_id,
            topic=topic,
            target_type=target_type,
            target_id=target_id,
            payload=data,
            headers=header_map,
            created_at=self.clock.now(),
            durable=spec.durable,
        )

    async def publish(self, deliveries: Sequence[Delivery]) -> None:
        """Store (durable: committed in one transaction) and dispatch built deliveries.

        Raises:
            NoSubscriber: a transient topic has no subscription.
        """
        durable = [d for d in deliveries if d.durable]
        for d in deliveries:
            if not d.durable and d.topic not in self.subs:
                raise NoSubscriber(d.topic)
        self.publishing += 1
        try:
            if durable:
                writer = self.writer
                assert writer is not None
                if not writer.has_room:
                    await writer.wait_for_room()
                now = self.clock.now()
                self.claim(durable)
                try:
                    receipt = writer.submit(*(insert_op(d, now) for d in durable))
                except BaseException:
                    self.unclaim(durable)
                    raise
                await self._complete(receipt, deliveries)
                return
            self._count_published(deliveries)
            for d in deliveries:
                await self.dispatch(d)
        finally:
            self.publishing -= 1

    async def publish_one(self, d: Delivery) -> None:
        """:meth:`publish` for one delivery."""
        if d.durable:
            writer = self.writer
            assert writer is not None
            self.publishing += 1
            try:
                if not writer.has_room:
                    await writer.wait_for_room()
                one = (d,)
                self.claim(one)
                try:
                    receipt = writer.submit(insert_op(d, self.clock.now()))
                except BaseException:
                    self.unclaim(one)
                    raise
                await self._complete(receipt, one)
            finally:
                self.publishing -= 1
            return
        sub = self.subs.get(d.topic)
        if sub is None:
            raise NoSubscriber(d.topic)
        sub.counters.published += 1
        self.publishing += 1
        try:
            await self.dispatch(d)
        finally:
            self.publishing -= 1

    async def _complete(self, receipt: Receipt, deliveries: Sequence[Delivery]) -> None:
        """Await the commit of submitted rows, then dispatch them: once submitted, a publish
        completes. A cancellation (a caller's timeout) that lands in between is held until
        the commit and the dispatch are done, so no committed row waits for a restart. The
        shield costs a few microseconds, so it is only taken when a cancellation came.

        The durable rows were claimed before they were submitted; the claims end here,
        whatever happened (dispatched, parked, or never committed)."""
        try:
            await self._commit_and_dispatch(receipt, deliveries)
        finally:
            self.unclaim(deliveries)

    async def _commit_and_dispatch(self, receipt: Receipt, deliveries: Sequence[Delivery]) -> None:
        cancelled = anyio.get_cancelled_exc_class()
        try:
            await receipt.wait()
        except cancelled:
            with anyio.CancelScope(shield=True):
                await receipt.wait()
                self._count_published(deliveries)
                for d in deliveries:
                    await self.dispatch(d)
            raise
        self._count_published(deliveries)
        for i, d in enumerate(deliveries):
            try:
                await self.dispatch(d)
            except cancelled:  # a dispatch cancelled while waiting for room enqueued nothing
                with anyio.CancelScope(shield=True):
                    for rest in deliveries[i:]:
                        await self.dispatch(rest)
                raise

    def publish_nowait(self, d: Delivery) -> PublishReceipt:
        """Submit (not awaiting the commit) and dispatch without waiting.

        Raises:
            BrokerFull: the subscription's queue is full, or the writer's (nothing stored).
            NoSubscriber: a transient topic has no subscription.
        """
        sub = self.subs.get(d.topic)
        if sub is None and not d.durable:
            raise NoSubscriber(d.topic)
        if sub is not None and not sub.queue.has_room():
            raise BrokerFull(d.topic, self.queued(d.topic))
        if d.durable and self.writer is not None and not self.writer.has_room:
            raise BrokerFull(d.topic, self.queued(d.topic), writer_full=True)
        receipt = None
        if d.durable:
            assert self.writer is not None
            receipt = self.writer.submit(insert_op(d, self.clock.now()))
        if sub is None:
            self.counters_for(d.topic).published += 1
            # Its row carries it: the subscription's recovery reads after a writer barrier,
            # so it sees this row even if it is not committed yet.
        else:
            sub.counters.published += 1
            self._mark_dispatched(d)
            sub.queue.offer(d)
        return PublishReceipt(d.id, receipt)

    def claim(self, deliveries: Sequence[Delivery]) -> None:
        """Before their rows are submitted: keep every backlog recovery from delivering them.

        A recovery that reads a page between a row's commit and its publisher's dispatch
        skips it, so the message is handled once. Their publisher calls :meth:`unclaim`
        once it dispatched (or parked) them, or when the rows were not committed.
        """
        claimed = self.claimed
        for d in deliveries:
            claimed.add(d.id)

    def unclaim(self, deliveries: Sequence[Delivery]) -> None:
        """End the claims of :meth:`claim`: the deliveries were dispatched or parked (a
        running recovery skips them by ``loading`` from there), or their rows never came."""
        claimed = self.claimed
        for d in deliveries:
            claimed.discard(d.id)

    # -- dispatch -----------------------------------------------------------------------

    def _mark_dispatched(self, d: Delivery) -> None:
        """Keep the topic's backlog recovery, if it is paging, from delivering ``d`` again."""
        if self.loading:
            seen = self.loading.get(d.topic)
            if seen is not None:
                seen.add(d.id)

    def park(self, d: Delivery) -> None:
        """``d``'s topic has no subscription: keep it for the next one, within a bound.

        A durable first attempt is not kept: its ``ready`` row carries it, and the next
        subscription's recovery reads it (after a writer barrier). A retry is kept, up to
        ``max_parked`` per topic; past that a durable retry is re-armed for
        ``park_retry_delay`` seconds later (row and timetable), and a transient one, which
        has nowhere else to wait, becomes a dead letter with reason ``no_subscriber``.
        """
        if d.durable and d.attempts == 0:
            return
        parked = self.parked.setdefault(d.topic, [])
        if len(parked) < self.max_parked:
            parked.append(d)
            return
        now = self.clock.now()
        if d.durable:
            self._schedule(d, now + self.park_retry_delay, now, None)
            self.scheduled -= 1  # not a new failure
            return
        self._dead_letter_now(d, "no_subscriber", NoSubscriber(d.topic), None, now)

    async def dispatch(self, d: Delivery) -> None:
        """Hand ``d`` to its topic's work queue, waiting for room (or :meth:`park` it)."""
        while True:
            sub = self.subs.get(d.topic)
            if sub is None:
                self.park(d)
                return
            self._mark_dispatched(d)
            queue = sub.queue
            if not queue.closed and queue.offer(d):
                return  # what put() does first, without a coroutine
            try:
                await queue.put(d)
            except QueueClosed:
                continue  # unsubscribed while waiting for room: park it, or the next one's
            return

    def dispatch_nowait(self, d: Delivery) -> None:
        """Hand ``d`` to its topic's work queue now, over its bound if need be.

        For deliveries already accepted (due and early retries): the broker actor, which
        sends them, must never wait on a busy topic.
        """
        sub = self.subs.get(d.topic)
        if sub is None:
            self.park(d)
            return
        self._mark_dispatched(d)
        sub.queue.push(d)

    async def unpark(self, topic: str) -> None:
        """Dispatch what waited for ``topic``'s subscription (before its rows are loaded)."""
        for d in self.parked.pop(topic, []):
            await self.dispatch(d)

    def queued(self, topic: str | None = None) -> int:
        """Messages waiting for a worker (of one topic, or all)."""
        subs = (
            [self.subs[topic]]
            if topic in self.subs
            else ([] if topic is not None else list(self.subs.values()))
        )
        return sum(len(s.queue) + sum(len(w._cell.mailbox) for w in s.workers) for s in subs)

    def running(self) -> int:
        """Deliveries in progress now (see ``SubscriptionState.running``)."""
        return sum(s.running for s in self.subs.values())

    # -- outcomes -------------------------------------------------------------------------

    async def ask_gate(self, message: Any) -> Any:
        """Ask the retry gate, waiting as long as it takes (a warning after ``stall_warning``).

        No deadline on purpose: an ask that timed out would still be handled by the gate
        later, so its caller could neither drop the delivery nor act on it without the
        gate's record and the message row disagreeing. The gate itself waits only for the
        writer, which retries until the database is back. If the gate dies, the ask fails
        with ActorDeadError.
        """
        assert self.gate is not None
        if self.failures.pending:
            await self.failures.sent()  # the gate sees them first, as they happened
        stalls = self._stalls
        token = stalls.begin(type(message).__name__)
        try:
            return await self.gate.ask(message, timeout=None)
        finally:
            stalls.end(token)

    def ack_asks_gate(self, d: Delivery) -> bool:
        """Whether acking ``d`` must ask the gate (:meth:`ack`); if not, :meth:`acked` is
        the whole ack, without a coroutine.

        A first-try success on the default target (topic, message id) cannot end a cycle: no
        other message shares that target, so the gate is not asked.
        """
        return self.gate is not None and (
            d.attempts > 0 or d.target_type != d.topic or d.target_id != d.id
        )

    async def ack(self, d: Delivery) -> None:
        """The handler returned: the message is done and its target's cycle ends.

        The worker counts the attempt (``TopicCounters.handled``) before it calls this.
        """
        row: dict[str, Any] | None = None
        if self.ack_asks_gate(d):
            if self.writer is None:
                # Nothing to commit with the message: the row the reply carries would go
                # unused, so the success is told (in order behind this worker's earlier
                # requests, waiting only for mailbox room) rather than asked.
                assert self.gate is not None
                if self.failures.pending:
                    await self.failures.sent()  # the gate sees them first, as they happened
                await self.gate.tell(RecordSuccess(d.target_type, d.target_id))
            else:
                row = await self.ask_gate(
                    RecordSuccess(d.target_type, d.target_id, caller_writes=True)
                )
        self.acked(d, row)

    def acked(self, d: Delivery, row: dict[str, Any] | None = None) -> None:
        """Record the ack of ``d``: its done row and the gate's ``row`` (from
        ``RecordSuccess``, if the gate was asked) in one submission."""
        if self.writer is not None and (d.durable or row is not None):
            now = self.clock.now()
            ops = [done_op(d, now)] if d.durable else []
            if row is not None and self._upsert is not None:
                ops.append(Op(self._upsert, row))
            self.writer.submit(*ops)
            if row is not None:
                self._submitted(d)
        if d.attempts > 0 and self.pattern is not None:
            self._tell_pattern(NoteOutcome(d.target_type, d.target_id, "success"))

    async def nack(
        self, d: Delivery, exc: BaseException, *, early: bool, state: SubscriptionState
    ) -> None:
        """The handler raised: record the failure, then schedule a retry or dead-letter it.

        The worker counts the attempt (``TopicCounters.failed``) before it calls this.

        The gate's decision is not waited for: the failure goes to the gate in the next
        batch of :attr:`failures`, and the retry or dead letter follows when the reply
        lands (:meth:`_decided`), so the worker goes on to its next delivery meanwhile. The
        delivery counts as running (``state.running``) until then. Past the batches' limit
        of undecided failures, this waits for room.
        """
        now = self.clock.now()
        error_type = type(exc).__name__
        self.counters_for(d.topic).error(error_type)
        d = replace(
            d,
            attempts=d.attempts + 1,
            first_failed_at=now if d.first_failed_at is None else d.first_failed_at,
            last_error_type=error_type,
            last_error=f"{error_type}: {error_text(exc)}"[:2000],
            early_requested=early,
            early=False,
            granted=False,
        )
        if self.pattern is not None:
            self._tell_pattern(NoteFailure(self._context(d)))
        sub = state.spec
        gate = self.gate
        if gate is None:
            self._nack_fallback(d, exc, sub, now)
            return
        non_retryable = isinstance(exc, sub.non_retryable)
        request = RecordFailure(
            d.target_type,
            d.target_id,
            policy=sub.policy_for(exc),
            caller_writes=self.writer is not None,
            explicit=early and not non_retryable,
        )
        failures = self.failures
        failures.add((d, exc, state, now, request))
        if failures.undecided >= failures.limit:
            await failures.room()

    def _decided(self, item: PendingFailure, answer: FailureOutcome | BaseException) -> None:
        """The gate's answer to a failure sent by :attr:`failures` landed: act on it.

        If the gate could not decide (it raised, or stopped for good), the broker's own
        fallback policy schedules the retry, so the message is not stranded.
        """
        d, exc, state, now, _ = item
        if isinstance(answer, BaseException):
            _log.error(
                "gate_record_failed", message_id=d.id, target=d.target_id, error=repr(answer)
            )
            self._nack_fallback(d, exc, state.spec, now)
        else:
            self._decide(d, exc, state.spec, now, answer)

    def _decide(
        self,
        d: Delivery,
        exc: BaseException,
        sub: Subscription,
        now: float,
        outcome: FailureOutcome,
    ) -> None:
        """Schedule ``d``'s retry or file it as a dead letter, as the gate decided."""
        # Nothing awaits here: the gate holds the record back until Submitted, so it is
        # never committed ahead of this message's state.
        decision = outcome.decision
        non_retryable = isinstance(exc, sub.non_retryable)
        if non_retryable or decision.phase == "exhausted":
            reason = "non_retryable" if non_retryable else "exhausted"
            self._dead_letter_now(d, reason, exc, outcome.row, now)
        else:
            at = decision.retry_after if decision.retry_after is not None else now
            granted = outcome.early
            if granted is not None and granted.allowed:
                # Granted already: the attempt is the early one, due now.
                phase = "base" if granted.phase == "first" else granted.phase
                d = replace(d, early=True, phase=phase)
                at = now
            elif granted is not None and granted.retry_after is not None:
                at = min(at, granted.retry_after)
            self._schedule(d, at, now, outcome.row)
        if self.writer is not None:
            self._submitted(d)

    def _submitted(self, d: Delivery) -> None:
        """Tell the gate its held record went to the writer (see ``caller_writes``)."""
        assert self.gate is not None
        try:
            self.gate.tell_nowait(Submitted(d.target_type, d.target_id))
        except Exception as exc:  # the hold expires on its own; say why it lingers
            _log.warning("gate_release_failed", target=d.target_id, error=repr(exc))

    def _nack_fallback(
        self, d: Delivery, exc: BaseException, sub: Subscription, now: float
    ) -> None:
        if isinstance(exc, sub.non_retryable) or d.attempts >= self.fallback.max_attempts:
            reason = "non_retryable" if isinstance(exc, sub.non_retryable) else "exhausted"
            self._dead_letter_now(d, reason, exc, None, now)
            return
        at = now + self.fallback.delay(d.attempts, self._random.random())
        self._schedule(d, at, now, None)

    def _schedule(self, d: Delivery, at: float, now: float, row: dict[str, Any] | None) -> None:
        self.scheduled += 1
        if self.writer is not None and (d.durable or row is not None):
            ops = [scheduled_op(d, at, now)] if d.durable else []
            if row is not None and self._upsert is not None:
                ops.append(Op(self._upsert, row))
            self.writer.submit(*ops)
        assert self.scheduler is not None
        self.scheduler.tell_nowait(Schedule(d, at))

    async def dead_letter(
        self, d: Delivery, *, reason: str, exc: BaseException, row: dict[str, Any] | None
    ) -> None:
        """File ``d`` as a dead letter (same transaction as its state and retry record)."""
        self._dead_letter_now(d, reason, exc, row, self.clock.now())

    def kill(self, d: Delivery, row: dict[str, Any] | None) -> str:
        """An operator killed the scheduled ``d``: file it as a dead letter with reason
        ``killed``, keeping its last error, in one submission with its row's state and the
        target's retry record (``row``). Returns the dead letter's id."""
        error_type = d.last_error_type
        message = d.last_error
        if message and ": " in message:  # stored as "<type>: <message>"
            kind, text = message.split(": ", 1)
            if error_type in (None, kind):
                error_type, message = kind, text
        note = f"killed by an operator before attempt {d.attempts + 1}"
        return self._dead_letter_now(
            d, "killed", None, row, self.clock.now(), error=(error_type, message, note)
        )

    def _dead_letter_now(
        self,
        d: Delivery,
        reason: str,
        exc: BaseException | None,
        row: dict[str, Any] | None,
        now: float,
        *,
        error: tuple[str | None, str | None, str | None] | None = None,
    ) -> str:
        self.counters_for(d.topic).dead(reason)
        if exc is not None:
            error = (
                type(exc).__name__,
                error_text(exc)[:2000],
                format_traceback(exc)[-_TRACEBACK_LIMIT:],
            )
        error_type, error_message, text = error if error is not None else (None, None, None)
        dead_letter_id = new_message_id()
        fields: dict[str, Any] = {
            "dead_letter_id": dead_letter_id,
            "reason": reason,
            "error_type": error_type,
            "error_message": error_message,
            "traceback": text,
            "retry_record": row,
            "now": now,
        }
        _log.warning(
            "message_dead_lettered",
            topic=d.topic,
            message_id=d.id,
            reason=reason,
            attempts=d.attempts,
            error=d.last_error or repr(exc),
        )
        entry = DeadLetterEntry.from_delivery(d, **fields)
        if self.writer is not None:
            ops = [dead_letter_insert(entry)]
            if d.durable:
                ops.insert(0, scheduled_op(d, now, now, state="dead"))
            if row is not None and self._upsert is not None:
                ops.append(Op(self._upsert, row))
            self.writer.submit(*ops)
        elif self.dead_letters is not None:
            self.dead_letters.tell_nowait(FileDeadLetter(entry))
        if self.pattern is not None:
            self._tell_pattern(NoteOutcome(d.target_type, d.target_id, "dead"))
        return dead_letter_id

    # -- helpers --------------------------------------------------------------------------

    def _context(self, d: Delivery) -> FailureContext:
        return FailureContext(
            topic=d.topic,
            target_type=d.target_type,
            target_id=d.target_id,
            message_id=d.id,
            attempt=d.attempts,
            error_type=d.last_error_type,
            error_message=d.last_error,
        )

    def _tell_pattern(self, message: Any) -> None:
        assert self.pattern is not None
        try:
            self.pattern.tell_nowait(message)
        except Exception as exc:  # a busy or stopped pattern engine must not fail a delivery
            if isinstance(message, NoteFailure):
                self.pattern_notes_dropped += 1
            _log.warning("pattern_note_dropped", message=type(message).__name__, error=repr(exc))

    def statistics(self) -> BrokerStatistics:
        """Return a snapshot of the counters (the per-topic ones summed)."""
        counters = self.counters.values()
        return BrokerStatistics(
            published=sum(c.published for c in counters),
            acked=sum(c.handled.count for c in counters),
            failed=sum(c.failed.count for c in counters),
            scheduled=self.scheduled,
            dead=sum(sum(c.dead_lettered.values()) for c in counters),
            queued=self.queued(),
            running=self.running(),
        )


def error_text(exc: BaseException) -> str:
    """``str(exc)``, or a placeholder when the exception's own ``__str__`` fails (a
    handler's broken exception class must not crash the worker recording it)."""
    try:
        return str(exc)
    except Exception as broken:
        return f"<str() failed: {type(broken).__name__}>"


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def format_traceback(exc: BaseException) -> str:
    """Format ``exc`` with its chain like ``traceback.format_exception``, without the column
    carets: Python 3.11 re-parses every source line to place them, which costs more than a
    delivery attempt."""
    blocks: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    link = ""
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        lines = ["Traceback (most recent call last):\n"] if frames else []
        for frame in frames:
            lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}\n')
            if frame.line:
                lines.append(f"    {frame.line.strip()}\n")
        lines.extend(traceback.format_exception_only(type(current), current))
        blocks.append("".join(lines) + link)
        if current.__cause__ is not None:
            current, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            current, link = current.__context__, _CONTEXT
        else:
            current = None
    return "".join(reversed(blocks))
