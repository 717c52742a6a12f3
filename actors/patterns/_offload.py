"""Where the pattern engine runs a piece of embedding or index work: inline or in a thread.

A worker-thread hop (``anyio.to_thread``) keeps a slow embedder (a real model: milliseconds
a text) off the event loop, but costs a thread wake-up and a GIL hand-over each way, far
more than the work itself when that work is a hashing embedder's few texts and an exact
search over a small index. In a failure storm the hops were most of the engine's cost.

So each kind of call keeps a running estimate of what one unit of its work costs (a text
to index, a query; measured on every call, wherever it ran) and runs inline while the
estimate times the call's units is under ``budget`` seconds, in a worker thread otherwise:
a batch of 256 texts goes to the thread even where single texts stay inline. Inline work
blocks the loop for about ``budget`` at most, far below any handler's
``reference_timeout``; work that grows (a larger index, a heavier model) moves to the
thread on its own, and back if it shrinks again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("INLINE_BUDGET", "Offload")

T = TypeVar("T")

INLINE_BUDGET = 0.0005
"""Seconds of work a call may take on the event loop (its estimated cost)."""

_WEIGHT = 0.2
"""Weight of the newest measurement in the running estimate."""


class Offload:
    """Run calls inline or in a worker thread by their estimated cost (see the module)."""

    __slots__ = ("_estimates", "budget", "inline", "threaded")

    def __init__(self, budget: float = INLINE_BUDGET) -> None:
        self.budget = budget
        self._estimates: dict[str, float] = {}
        self.inline = 0
        """Calls run on the event loop."""
        self.threaded = 0
        """Calls run in a worker thread."""

    def estimate(self, kind: str) -> float | None:
        """The running estimate of one unit of ``kind`` in seconds (``None``: never
        measured)."""
        return self._estimates.get(kind)

    async def run(self, kind: str, units: int, fn: Callable[..., T], *args: object) -> T:
        """Call ``fn(*args)``, ``units`` of ``kind``'s work: inline if the estimate for that
        many units is under the budget, else (and the first time, before anything is
        known) in a worker thread."""
        units = max(1, units)
        known = self._estimates.get(kind)
        if known is not None and known * units < self.budget:
            self.inline += 1
            return self._timed(kind, units, fn, *args)
        self.threaded += 1
        return await anyio.to_thread.run_sync(self._timed, kind, units, fn, *args)

    def _timed(self, kind: str, units: int, fn: Callable[..., T], *args: object) -> T:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            cost = (time.perf_counter() - started) / units
            known = self._estimates.get(kind)
            self._estimates[kind] = cost if known is None else known + _WEIGHT * (cost - known)
