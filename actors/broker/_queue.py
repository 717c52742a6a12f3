"""A subscription's work queue: one FIFO that all of its workers take from.

Workers are not fed round-robin. A worker that finishes a delivery takes the next one from
the queue, and one with nothing to take waits in the queue's idle list; a dispatch hands a
delivery straight to an idle worker, or queues it. So an idle worker never waits behind a
slow handler while work is queued (no head-of-line blocking), and a worker's own mailbox
holds at most the one delivery it is about to handle.

The queue is bounded by the subscription's ``max_in_flight``: :meth:`put` waits for room
(publishers, backlog recovery) and :meth:`offer` refuses when full (``publish_nowait``).
:meth:`push` never waits and never refuses: it is for deliveries the runtime has already
accepted (due retries, early retries), so the broker actor never blocks on a busy topic.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import TYPE_CHECKING, final

from actorgrid.kernel import ActorDeadError, MailboxFull

if TYPE_CHECKING:
    from actorgrid.kernel import ActorRef

    from .._delivery import Delivery

__all__ = ("QueueClosed", "WorkQueue")


class QueueClosed(Exception):
    """Internal: :meth:`WorkQueue.put` found its subscription gone (dispatch again)."""


@final
class WorkQueue:
    """The deliveries waiting for a subscription's next free worker.

    Args:
        capacity: the most deliveries queued at once by :meth:`put` and :meth:`offer`.
    """

    __slots__ = ("_idle", "_items", "_putters", "capacity", "closed")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.closed = False
        """The subscription is gone: :meth:`put` raises :class:`QueueClosed`."""
        self._items: deque[Delivery] = deque()
        self._idle: deque[ActorRef[Delivery]] = deque()
        self._putters: deque[asyncio.Future[None]] = deque()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def idle(self) -> int:
        """Workers waiting for work now."""
        return len(self._idle)

    # -- producers ------------------------------------------------------------------------

    def has_room(self) -> bool:
        """Whether :meth:`offer` would take a delivery now."""
        return bool(self._idle) or (not self._putters and len(self._items) < self.capacity)

    def offer(self, d: Delivery) -> bool:
        """Hand ``d`` to an idle worker or queue it; ``False`` (nothing done) when full."""
        if self._idle and self._hand_off(d):
            return True
        if self._putters or len(self._items) >= self.capacity:
            return False
        self._items.append(d)
        return True

    async def put(self, d: Delivery) -> None:
        """Hand ``d`` over or queue it, waiting for room (first come, first served)."""
        if self.closed:
            raise QueueClosed
        if self.offer(d):
            return
        loop = asyncio.get_running_loop()
        while True:
            fut: asyncio.Future[None] = loop.create_future()
            self._putters.append(fut)
            try:
                await fut
            except BaseException:
                fut.cancel()
                with contextlib.suppress(ValueError):
                    self._putters.remove(fut)
                self._wake_putter()  # a wake-up meant for this one must not be lost
                raise
            if self.closed:
                raise QueueClosed
            if self._idle and self._hand_off(d):
                break
            if len(self._items) < self.capacity:
                self._items.append(d)
                break
        self._wake_putter()

    def push(self, d: Delivery) -> None:
        """Hand ``d`` over or queue it now, over capacity if need be (accepted work)."""
        if not (self._idle and self._hand_off(d)):
            self._items.append(d)

    def _hand_off(self, d: Delivery) -> bool:
        while self._idle:
            worker = self._idle.popleft()
            try:
                worker.tell_nowait(d)
            except (MailboxFull, ActorDeadError):
                continue  # not idle after all (stopping or stopped): try the next one
            return True
        return False

    def _wake_putter(self) -> None:
        if len(self._items) >= self.capacity and not self._idle:
            return
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    # -- workers --------------------------------------------------------------------------

    def take(self) -> Delivery | None:
        """The next queued delivery, for a worker that is free and goes on at once (``None``
        when there is none, or the subscription is gone)."""
        items = self._items
        if not items or self.closed:
            return None
        d = items.popleft()
        if self._putters:
            self._wake_putter()
        return d

    def next_for(self, worker: ActorRef[Delivery]) -> None:
        """``worker`` is free: send it the next queued delivery, or list it as idle."""
        if self.closed:
            return  # the subscription is gone: what is queued waits for the next one
        items = self._items
        if items:
            d = items.popleft()
            try:
                worker.tell_nowait(d)
            except (MailboxFull, ActorDeadError):
                items.appendleft(d)
                return
            if self._putters:
                self._wake_putter()
            return
        if worker not in self._idle:
            self._idle.append(worker)
        if self._putters:
            self._wake_putter()

    def retire(self, worker: ActorRef[Delivery], pending: list[Delivery]) -> None:
        """``worker`` stops: take it off the idle list and queue again, at the front, what
        was sent to it and not handled."""
        with contextlib.suppress(ValueError):
            self._idle.remove(worker)
        self._items.extendleft(reversed(pending))

    def close(self) -> None:
        """The subscription is gone: wake every waiting :meth:`put` with QueueClosed."""
        self.closed = True
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_result(None)

    def drain(self) -> list[Delivery]:
        """Remove and return every queued delivery."""
        items = list(self._items)
        self._items.clear()
        return items
