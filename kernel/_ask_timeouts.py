"""Ask deadlines, checked in sweeps instead of one event-loop timer per ask.

An asyncio timer per ``ask`` (``call_later`` + ``cancel``) costs as much as the round trip
itself once the loop's heap fills with cancelled handles. Pending asks are appended to a
list instead (about 0.1 us) and one task sweeps it every :data:`SWEEP_INTERVAL` seconds,
failing the expired ones with :class:`AskTimeout`. A timeout therefore fires between
``timeout`` and ``timeout + SWEEP_INTERVAL`` seconds after the ask.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final, final

import anyio

from ._exceptions import AskTimeout

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("SWEEP_INTERVAL", "AskDeadlines")

SWEEP_INTERVAL: Final = 0.01
"""Seconds between two sweeps of pending ask deadlines (the most a timeout fires late)."""


@final
class AskDeadlines:
    """The pending timed asks of one kernel and the sweep that expires them."""

    __slots__ = ("_pending", "_start", "_started", "_wake")

    def __init__(self, start: Callable[[], None]) -> None:
        self._pending: list[tuple[float, asyncio.Future[Any], str, object, float]] = []
        self._start = start
        self._started = False
        self._wake = asyncio.Event()

    def track(
        self, reply: asyncio.Future[Any], actor: str, message: object, timeout: float
    ) -> None:
        """Fail ``reply`` with :class:`AskTimeout` if it is still pending after ``timeout``."""
        if not self._started:
            self._started = True
            self._start()
        deadline = asyncio.get_running_loop().time() + timeout
        if not self._pending:
            self._wake.set()  # the sweep sleeps while nothing is pending
        self._pending.append((deadline, reply, actor, message, timeout))

    def sweep(self, now: float) -> None:
        """Drop answered asks, expire overdue ones, keep the rest."""
        keep = []
        for entry in self._pending:
            reply = entry[1]
            if reply.done():
                continue
            if entry[0] <= now:
                reply.set_exception(AskTimeout(entry[2], entry[3], entry[4]))
            else:
                keep.append(entry)
        self._pending = keep

    async def run(self) -> None:
        """Sweep until cancelled (a kernel background task); idle while nothing is pending."""
        loop = asyncio.get_running_loop()
        wake = self._wake
        while True:
            if not self._pending:
                wake.clear()
                await wake.wait()
            await anyio.sleep(SWEEP_INTERVAL)
            if self._pending:
                self.sweep(loop.time())
