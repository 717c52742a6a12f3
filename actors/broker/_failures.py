"""Handler failures recorded with the retry gate in batches, in order, without a wait each.

A failed attempt needs the gate's decision (retry when, or dead-letter it) before the broker
can schedule it. Asked one by one, each failure cost its worker a round trip through the
event loop, several times the attempt itself. Instead the failures of one loop turn are
gathered and sent as one :class:`RecordFailureBatch` when the loop next runs (or at once,
when a batch is full); the worker goes on to its next delivery meanwhile. The gate answers
them in order, and the decisions are acted on when the reply lands.

Guarantees kept:

- A failure still counts as running (``SubscriptionState.running``) until its decision is
  acted on, so ``drain`` and ``unsubscribe`` wait for it.
- The gate sees the broker's requests in the order they were made: any other request to
  the gate first sends what is pending (:meth:`FailureBatches.sent`).
- Bounded: past ``limit`` failures without a decision, a failing worker waits
  (:meth:`FailureBatches.room`) until decisions land.
- A batch, or a request in it, that the gate cannot answer (it raised, or it stopped for
  good) goes to the broker's fallback policy, so the message is not stranded.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from actorgrid.kernel import MailboxFull

from ..retry import FailureOutcome, RecordFailure, RecordFailureBatch

if TYPE_CHECKING:
    from collections.abc import Callable

    from actorgrid.kernel import ActorRef

    from .._delivery import Delivery
    from ._core import SubscriptionState
    from ._stall import StallWatch

__all__ = ("FailureBatches", "PendingFailure")

_log = structlog.get_logger("actorgrid.broker")

BATCH = 500
"""Most failures in one ``RecordFailureBatch``."""

LIMIT = 2_000
"""Failures without a decision (pending or sent) past which a failing worker waits."""

_FULL_RETRY = 0.001
"""Seconds between sends of a batch while the gate's mailbox is full (rare: one batch takes
one mailbox slot)."""

PendingFailure = tuple["Delivery", BaseException, "SubscriptionState", float, RecordFailure]
"""A failure waiting for its decision: the delivery (its attempt counted), the handler's
exception, its subscription, when it failed, and the request for the gate."""


class FailureBatches:
    """Send failures to the gate in batches; act on each decision through ``decide``.

    ``decide(item, answer)`` gets the item and the gate's :class:`FailureOutcome`, or the
    exception that stands for it (the request's own, or the batch's when the gate stopped).
    It must not raise; if it does, the error is logged and the other items go on.
    """

    __slots__ = (
        "_decide",
        "_gate",
        "_handle",
        "_pending",
        "_room",
        "_stalls",
        "limit",
        "undecided",
    )

    def __init__(
        self,
        gate: Callable[[], ActorRef[Any] | None],
        decide: Callable[[PendingFailure, FailureOutcome | BaseException], None],
        stalls: StallWatch,
        *,
        limit: int = LIMIT,
    ) -> None:
        self._gate = gate
        self._decide = decide
        self._stalls = stalls
        self._pending: list[PendingFailure] = []
        self._handle: asyncio.Handle | None = None
        self._room: asyncio.Event | None = None
        self.limit = limit
        self.undecided = 0
        """Failures added whose decision has not been acted on yet."""

    @property
    def pending(self) -> int:
        """Failures not sent to the gate yet."""
        return len(self._pending)

    def add(self, item: PendingFailure) -> None:
        """Queue ``item`` for the next batch; it counts as running until decided."""
        item[2].running += 1
        self.undecided += 1
        pending = self._pending
        pending.append(item)
        if len(pending) >= BATCH:
            self.send()
        elif self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self.send)

    async def room(self) -> None:
        """Wait while ``limit`` or more failures have no decision."""
        while self.undecided >= self.limit:
            self.send()
            if self._room is None:
                self._room = asyncio.Event()
            await self._room.wait()

    async def sent(self) -> None:
        """Send what is pending, waiting while the gate's mailbox is full. Call it before any
        other request to the gate: the gate then sees them after these failures."""
        self.send()
        # The gate's mailbox is full (rare): send() tries again on its timer meanwhile.
        while self._pending:  # noqa: ASYNC110 - polled, like drain()
            await anyio.sleep(_FULL_RETRY)

    def send(self) -> None:
        """Send the pending failures as one batch now, if the gate's mailbox has room."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
        batch = self._pending
        if not batch:
            return
        gate = self._gate()
        if gate is None:  # the gate was never there, or is gone: the fallback decides
            self._pending = []
            self._land(batch, RuntimeError("no retry gate"))
            return
        try:
            reply = gate.ask_nowait(RecordFailureBatch(tuple(item[4] for item in batch)))
        except MailboxFull:
            self._handle = asyncio.get_running_loop().call_later(_FULL_RETRY, self.send)
            return
        except Exception as exc:  # stopped for good (ActorDeadError)
            self._pending = []
            self._land(batch, exc)
            return
        self._pending = []
        token = self._stalls.begin("RecordFailureBatch")
        reply.add_done_callback(partial(self._replied, batch, token))

    def _replied(self, batch: list[PendingFailure], token: int, reply: asyncio.Future[Any]) -> None:
        self._stalls.end(token)
        if reply.cancelled():
            self._land(batch, asyncio.CancelledError("the gate's reply was cancelled"))
        elif (error := reply.exception()) is not None:
            self._land(batch, error)
        else:
            self._land(batch, reply.result())

    def _land(self, batch: list[PendingFailure], answers: tuple[Any, ...] | BaseException) -> None:
        decide = self._decide
        for i, item in enumerate(batch):
            answer = answers if isinstance(answers, BaseException) else answers[i]
            try:
                decide(item, answer)
            except Exception as exc:  # a callback's exception would only reach the loop's log
                _log.error(
                    "nack_failed", message_id=item[0].id, topic=item[0].topic, error=repr(exc)
                )
            finally:
                item[2].running -= 1
        self.undecided -= len(batch)
        room = self._room
        if room is not None and self.undecided < self.limit:
            room.set()
            self._room = None
