"""Bounded mailboxes: user messages queue up to a capacity; system messages always overtake.

The mailbox is built on a deque and bare asyncio futures rather than a memory stream: an
awaited ``put`` or ``get`` that does not need to wait returns without yielding to the event
loop, which is what makes a ``tell`` cost about as much as an ``asyncio.Queue`` put.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar, final

__all__ = (
    "EMPTY",
    "Mailbox",
    "MailboxClosed",
    "MailboxEmpty",
    "MailboxStatistics",
    "MailboxWouldBlock",
)

T = TypeVar("T")

EMPTY: Final = object()
"""What :meth:`Mailbox.poll` returns when there is nothing to take."""


class MailboxWouldBlock(Exception):
    """Internal: ``put_nowait`` found the mailbox full (the ref turns it into ``MailboxFull``)."""


class MailboxEmpty(Exception):
    """Internal: ``get_nowait`` found nothing to take."""


class MailboxClosed(Exception):
    """Internal: the mailbox was closed (the ref turns it into ``ActorDeadError``)."""


@dataclass(frozen=True, slots=True)
class MailboxStatistics:
    """A snapshot of a mailbox."""

    capacity: int
    """Most user messages it holds at once."""
    depth: int
    """User messages waiting now."""
    system_depth: int
    """System messages waiting now."""
    blocked_senders: int
    """Senders waiting in ``put`` for room."""
    received: int
    """User messages taken out since the mailbox was created."""
    closed: bool
    """Whether the mailbox refuses new messages."""


@final
class Mailbox(Generic[T]):
    """A bounded FIFO of user items plus an unbounded FIFO of system items with priority.

    One consumer (the actor's task) calls :meth:`get`; any number of producers call
    :meth:`put`, :meth:`put_nowait` or :meth:`put_system`.

    Args:
        capacity: the most user items held at once (at least 1).
    """

    __slots__ = ("_capacity", "_closed", "_getter", "_putters", "_received", "_system", "_user")

    def __init__(self, capacity: int) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"mailbox capacity must be an int >= 1, got {capacity!r}")
        self._capacity = capacity
        self._user: deque[T] | None = None  # created with the first message
        # Most mailboxes never see a system item or a blocked sender: both queues are
        # created on first use (an empty deque costs ~600 bytes per actor).
        self._system: list[T] | None = None
        self._getter: asyncio.Future[None] | None = None
        self._putters: deque[asyncio.Future[None]] | None = None
        self._closed = False
        self._received = 0

    @property
    def capacity(self) -> int:
        """The most user items held at once."""
        return self._capacity

    @property
    def closed(self) -> bool:
        """Whether the mailbox refuses new items."""
        return self._closed

    def __len__(self) -> int:
        return len(self._user or ()) + len(self._system or ())

    @property
    def system_pending(self) -> bool:
        """Whether a system item (a stop request) waits: a consumer that takes work from
        elsewhere between messages checks this to let it overtake."""
        return bool(self._system)

    def _wake_getter(self) -> None:
        getter = self._getter
        if getter is not None:
            self._getter = None
            if not getter.done():
                getter.set_result(None)

    def put_nowait(self, item: T) -> None:
        """Append a user item without waiting.

        Raises:
            MailboxClosed: if the mailbox is closed.
            MailboxWouldBlock: if the mailbox is at capacity.
        """
        if self._closed:
            raise MailboxClosed
        user = self._user
        if user is None:
            user = self._user = deque()
        if len(user) >= self._capacity:
            raise MailboxWouldBlock
        user.append(item)
        if self._getter is not None:
            self._wake_getter()

    def try_put(self, item: T) -> bool:
        """Append a user item if that needs no wait: there is room and no sender waits ahead.

        Returns:
            True if the item was appended; False (nothing changed) if :meth:`put` would wait.

        Raises:
            MailboxClosed: if the mailbox is closed.
        """
        if self._closed:
            raise MailboxClosed
        user = self._user
        if user is None:
            user = self._user = deque()
        if self._putters or len(user) >= self._capacity:
            return False
        user.append(item)
        if self._getter is not None:
            self._wake_getter()
        return True

    async def put(self, item: T) -> None:
        """Append a user item, waiting while the mailbox is full (FIFO among waiting senders).

        Raises:
            MailboxClosed: if the mailbox is closed before or while waiting.
        """
        if self._closed:
            raise MailboxClosed
        if self._user is None:
            self._user = deque()
        if len(self._user) >= self._capacity or self._putters:
            loop = asyncio.get_running_loop()
            if self._putters is None:
                self._putters = deque()
            while True:
                fut: asyncio.Future[None] = loop.create_future()
                self._putters.append(fut)
                try:
                    await fut
                except BaseException:
                    fut.cancel()
                    self._discard_putter(fut)
                    # A wake-up meant for us must not be lost: pass it on.
                    if not self._closed and len(self._user) < self._capacity:
                        self._wake_putter()
                    raise
                if self._closed:
                    raise MailboxClosed
                if len(self._user) < self._capacity:
                    break
        self._user.append(item)
        if self._getter is not None:
            self._wake_getter()

    def _discard_putter(self, fut: asyncio.Future[None]) -> None:
        if self._putters is not None:
            with contextlib.suppress(ValueError):
                self._putters.remove(fut)

    def _wake_putter(self) -> None:
        putters = self._putters
        while putters:
            fut = putters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    def put_system(self, item: T) -> None:
        """Append a system item; it is delivered before any user item. Never blocks.

        System items are accepted even after :meth:`close`, so a stop request always lands.
        """
        if self._system is None:
            self._system = [item]
        else:
            self._system.append(item)
        if self._getter is not None:
            self._wake_getter()

    async def get(self) -> T:
        """Take the next item: system items first, then user items in FIFO order.

        Waits while both queues are empty. Only one task may wait in ``get`` at a time.
        """
        while not self._system and not self._user:
            if self._getter is not None:
                raise RuntimeError("only one task may wait on a mailbox")
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getter = fut
            try:
                await fut
            finally:
                if self._getter is fut:
                    self._getter = None
        if self._system:
            return self._system.pop(0)
        user = self._user
        assert user is not None
        item = user.popleft()
        self._received += 1
        if self._putters:
            self._wake_putter()
        return item

    def waiter(self) -> asyncio.Future[None]:
        """Return a future that completes when an item arrives (for a consumer that polls
        with :meth:`get_nowait`); pass it to :meth:`drop_waiter` once awaited.

        Raises:
            RuntimeError: if another consumer is already waiting.
        """
        if self._getter is not None:
            raise RuntimeError("only one task may wait on a mailbox")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._system or self._user:
            fut.set_result(None)
        else:
            self._getter = fut
        return fut

    def drop_waiter(self, fut: asyncio.Future[None]) -> None:
        """Forget ``fut`` if it is still the registered waiter (after a cancellation)."""
        if self._getter is fut:
            self._getter = None

    def get_nowait(self) -> T:
        """Take the next item like :meth:`get`, without waiting.

        Raises:
            MailboxEmpty: if both queues are empty.
        """
        item = self.poll()
        if item is EMPTY:
            raise MailboxEmpty
        return item  # type: ignore[return-value]

    def poll(self) -> T | object:
        """Take the next item like :meth:`get_nowait`, or return :data:`EMPTY` (no exception:
        the actor loop calls this for every message)."""
        if self._system:
            return self._system.pop(0)
        user = self._user
        if not user:
            return EMPTY
        item = user.popleft()
        self._received += 1
        if self._putters:
            self._wake_putter()
        return item

    def close(self) -> None:
        """Refuse new user items and wake every blocked sender with :class:`MailboxClosed`."""
        self._closed = True
        while self._putters:
            fut = self._putters.popleft()
            if not fut.done():
                fut.set_result(None)

    def drain(self) -> list[T]:
        """Remove and return every waiting user item (for dead-letter reporting)."""
        items = list(self._user or ())
        self._user = None
        return items

    def drain_system(self) -> list[T]:
        """Remove and return every waiting system item."""
        items = self._system or []
        self._system = None
        return items

    def statistics(self) -> MailboxStatistics:
        """Return a snapshot of depth, blocked senders and totals."""
        return MailboxStatistics(
            capacity=self._capacity,
            depth=len(self._user or ()),
            system_depth=len(self._system or ()),
            blocked_senders=sum(1 for f in self._putters or () if not f.done()),
            received=self._received,
            closed=self._closed,
        )
