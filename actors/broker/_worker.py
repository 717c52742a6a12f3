"""The subscription worker: an actor that runs a topic's handler, one message at a time.

A subscription with concurrency ``n`` has ``n`` workers under the ``subscriptions``
supervisor, all taking from the subscription's one :class:`WorkQueue`. The handler's
exceptions never crash the worker: they are the nack path, and so are a stray
``CancelledError`` (one that reached the handler while the worker itself was not being
cancelled) and any other ``BaseException`` but ``KeyboardInterrupt`` and ``SystemExit``. A
payload that cannot be decoded, whatever the decoder or the payload type's
``__post_init__`` raised, goes to the dead-letter queue without running the handler.

Around each handler call the worker counts the topic's handled or failed attempt, its
retries by phase and outcome, the call's duration and, for a retry that succeeded, the time
since the message first failed (on the runtime's clock). The duration is real elapsed time
(``time.perf_counter_ns``), not the runtime's clock: under a fake clock every handler would
take no time at all.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from time import perf_counter_ns
from typing import TYPE_CHECKING

import structlog
from anyio.lowlevel import checkpoint

from actorgrid.kernel import Actor, stray_failure

from ..patterns import FailureContext, Glimpse, Reference, Revise, Revision
from ._types import DeliveryContext, RetryEarly

if TYPE_CHECKING:
    from .._delivery import Delivery
    from ._core import BrokerCore, SubscriptionState

__all__ = ("SubscriptionWorker", "in_handler")

_log = structlog.get_logger("actorgrid.broker")

_BURST = 256
"""Deliveries a worker handles back to back before it yields to the event loop (as the
actor loop does for messages)."""

_HANDLING: ContextVar[BrokerCore | None] = ContextVar("actorgrid_handling", default=None)
"""The broker whose handler the current task runs (set once per worker task, so it costs
nothing per delivery; tasks a handler starts inherit it)."""


def in_handler(core: BrokerCore) -> bool:
    """Whether the caller runs in one of ``core``'s subscription workers (in a handler), or in
    a task that such a handler started."""
    return _HANDLING.get() is core


class SubscriptionWorker(Actor["Delivery"]):
    """Runs one subscription's handler for the deliveries dispatched to it."""

    def __init__(self, core: BrokerCore, sub: SubscriptionState) -> None:
        self._core = core
        self._sub = sub
        # Bound once: the counters are the topic's for the subscription's whole life.
        self._count_handled = sub.counters.handled.observe
        self._count_failed = sub.counters.failed.observe

    async def on_start(self) -> None:
        """Mark this worker's task as a handler's (see :func:`in_handler`), then take work
        from the subscription's queue (unless a delivery already waits here)."""
        _HANDLING.set(self._core)
        if not len(self.actor_ref._cell.mailbox):
            self._sub.queue.next_for(self.actor_ref)

    async def on_stop(self) -> None:
        """Leave the queue; what was handed to this worker and not begun goes back to it."""
        pending = self.actor_ref._cell.mailbox.drain()
        self._sub.queue.retire(self.actor_ref, pending)

    async def receive(self, message: Delivery) -> None:
        """Decode, attach reference context, run the handler, then ack or nack; then take
        the next delivery from the subscription's queue.

        The delivery counts as running (what ``drain`` waits for) from here until its ack,
        nack or dead letter is through, the wait for references and for the gate included.
        """
        # One coroutine for the whole delivery on purpose: a call per step would cost a
        # coroutine each, a measurable share of a transient delivery.
        core = self._core
        sub = self._sub
        queue = sub.queue
        mailbox = self.actor_ref._cell.mailbox
        d: Delivery | None = message
        burst = 0
        while d is not None:
            sub.running += 1
            try:
                try:
                    payload = sub.decode(d.payload)
                except Exception as exc:
                    # msgspec raises DecodeError or ValidationError, but the payload type's own
                    # __post_init__ may raise anything: every one of them means "undecodable".
                    await core.dead_letter(d, reason="undecodable", exc=exc, row=None)
                else:
                    references: tuple[Reference, ...] = ()
                    revision: Revision | None = None
                    if d.early or d.phase == "revise":
                        references, revision = await self._references(d)
                    ctx = DeliveryContext(d, references, revision)
                    phase = ""
                    if d.attempts:
                        phase = "early" if d.early else d.phase
                        sub.counters.retry(phase)
                    started = perf_counter_ns()
                    try:
                        await sub.handler(payload, ctx)
                    except asyncio.CancelledError as cancelled:
                        # A real stop re-raises here: the delivery stays unacked, delivered again.
                        failure = stray_failure(cancelled)
                        early = self._failed(ctx, failure, started, phase)
                        await core.nack(d, failure, early=early, state=sub)
                    except (KeyboardInterrupt, SystemExit):
                        raise  # asks the process to end: not the handler's failure to retry
                    except BaseException as exc:
                        # Any other BaseException (GeneratorExit, an application's own) is the
                        # handler's failure too: let into the supervisor's task group, it would
                        # end the runtime.
                        early = self._failed(ctx, exc, started, phase)
                        await core.nack(d, exc, early=early, state=sub)
                    else:
                        self._count_handled(perf_counter_ns() - started)
                        if phase:
                            self._succeeded(d, phase)
                        if core.ack_asks_gate(d):
                            await core.ack(d)
                        else:
                            core.acked(d)  # most acks: no coroutine
            finally:
                sub.running -= 1
            # Take the next one here rather than through the mailbox (a tell and a poll
            # less per delivery), unless a stop waits: then it goes through the mailbox,
            # where the stop overtakes it.
            if mailbox.system_pending:
                break
            burst += 1
            if burst >= _BURST:
                # Handlers that never wait would otherwise keep the loop to themselves.
                burst = 0
                await checkpoint()
            d = queue.take()
        queue.next_for(self.actor_ref)

    def _failed(
        self, ctx: DeliveryContext, failure: BaseException, started: int, phase: str
    ) -> bool:
        """Count a failed handler call (a retry's by its phase); return whether it asked for
        the early retry."""
        self._count_failed(perf_counter_ns() - started)
        if phase:
            failed = self._sub.counters.retry_failed
            failed[phase] = failed.get(phase, 0) + 1
        return ctx.early_retry_requested or isinstance(failure, RetryEarly)

    def _succeeded(self, d: Delivery, phase: str) -> None:
        """Count a retry whose handler returned, by its phase, and the time since the
        message first failed."""
        counters = self._sub.counters
        ok = counters.retry_ok
        ok[phase] = ok.get(phase, 0) + 1
        first = d.first_failed_at
        if first is not None:
            waited = self._core.clock.now() - first
            counters.to_success.observe(int(waited * 1000) if waited > 0 else 0)

    async def _references(self, d: Delivery) -> tuple[tuple[Reference, ...], Revision | None]:
        pattern = self._core.pattern
        if pattern is None:
            return (), None
        context = FailureContext(
            topic=d.topic,
            target_type=d.target_type,
            target_id=d.target_id,
            message_id=d.id,
            attempt=d.attempts + 1,
            error_type=d.last_error_type,
            error_message=d.last_error,
        )
        timeout = self._core.reference_timeout
        try:
            if d.phase == "revise":
                revision: Revision = await pattern.ask(Revise(context), timeout=timeout)
                return revision.references, revision
            return tuple(await pattern.ask(Glimpse(context), timeout=timeout)), None
        except Exception as exc:
            _log.warning("reference_lookup_failed", message_id=d.id, error=repr(exc))
            return (), None
        except asyncio.CancelledError as cancelled:
            failure = stray_failure(cancelled)  # a real stop re-raises
            _log.warning("reference_lookup_failed", message_id=d.id, error=repr(failure))
            return (), None

    async def on_failure(self, exc: Exception, message: object | None) -> None:
        """Only a bug in the broker itself gets here (handler errors are nacks)."""
        _log.error("worker_crashed", topic=self._sub.spec.topic, error=repr(exc))
