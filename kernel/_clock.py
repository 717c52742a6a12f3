"""Injectable time: a real clock for production and a fake one that tests advance by hand.

Nothing in the runtime reads ``time.time()`` or sleeps on its own: every component takes a
:class:`Clock` and asks it for the wall time, the monotonic time, or a sleep. The fake clock
makes 30-minute retry windows testable without waiting for them.
"""

from __future__ import annotations

import heapq
import itertools
import time
from typing import Protocol, final, runtime_checkable

import anyio

__all__ = ("Clock", "FakeClock", "SystemClock")


@runtime_checkable
class Clock(Protocol):
    """Source of time for the runtime."""

    def now(self) -> float:
        """Return the wall-clock time as UTC epoch seconds."""
        ...

    def monotonic(self) -> float:
        """Return a monotonic time in seconds, for measuring intervals."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (0 or less yields once)."""
        ...

    async def sleep_until(self, wall_time: float) -> None:
        """Wait until :meth:`now` reaches ``wall_time``."""
        ...


@final
class SystemClock:
    """The real clock: ``time.time``, ``time.monotonic`` and ``anyio.sleep``."""

    __slots__ = ()

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        await anyio.sleep(max(seconds, 0.0))

    async def sleep_until(self, wall_time: float) -> None:
        """Sleep until the wall clock reaches ``wall_time``."""
        await anyio.sleep(max(wall_time - time.time(), 0.0))


@final
class FakeClock:
    """A clock that only moves when a test calls :meth:`advance` or :meth:`set`.

    Sleepers wake, in deadline order, when the clock is advanced past their deadline. The
    wall time and the monotonic time move together.

    Args:
        start: the initial wall time in epoch seconds (default: 2026-01-01T00:00:00Z).
    """

    __slots__ = ("_counter", "_now", "_offset", "_sleepers")

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self._now = start
        self._offset = start - 1_000.0
        self._sleepers: list[tuple[float, int, anyio.Event]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        """Return the fake wall time."""
        return self._now

    def monotonic(self) -> float:
        """Return the fake monotonic time (the wall time minus a fixed offset)."""
        return self._now - self._offset

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been advanced by ``seconds``."""
        await self.sleep_until(self._now + seconds)

    async def sleep_until(self, wall_time: float) -> None:
        """Wait until the clock has been advanced to ``wall_time``."""
        if wall_time <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        heapq.heappush(self._sleepers, (wall_time, next(self._counter), event))
        await event.wait()

    @property
    def sleepers(self) -> int:
        """Number of tasks currently waiting on this clock (cancelled ones included)."""
        return len(self._sleepers)

    def next_deadline(self) -> float | None:
        """Return the earliest deadline anyone waits for, or ``None``."""
        return self._sleepers[0][0] if self._sleepers else None

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and wake every sleeper now due.

        Raises:
            ValueError: if ``seconds`` is negative (time never goes back).
        """
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds!r})")
        self.set(self._now + seconds)

    def set(self, wall_time: float) -> None:
        """Move time forward to ``wall_time`` and wake every sleeper now due.

        Raises:
            ValueError: if ``wall_time`` is earlier than the current time.
        """
        if wall_time < self._now:
            raise ValueError(f"a clock cannot go back: {wall_time!r} < {self._now!r}")
        self._now = wall_time
        while self._sleepers and self._sleepers[0][0] <= wall_time:
            _, _, event = heapq.heappop(self._sleepers)
            event.set()
