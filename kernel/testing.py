"""Helpers for testing actor code: a recording probe actor and deterministic waiting.

These are public and stable, so applications can test their own actors the same way the
runtime tests itself.
"""

from __future__ import annotations

import asyncio
from typing import Any, final

import anyio
from anyio.lowlevel import checkpoint

from ._actor import Actor

__all__ = ("Probe", "ProbeLog", "settle", "wait_until")


@final
class ProbeLog:
    """What a :class:`Probe` saw, shared across its incarnations."""

    def __init__(self) -> None:
        self.messages: list[object] = []
        """Every message received, in order."""
        self.events: list[str] = []
        """Lifecycle events: ``start``, ``stop``, ``failure``."""

    def factory(self, *, fail_on: type | None = None, reply: Any = None) -> Probe:
        """Build a :class:`Probe` writing to this log (use as a child factory)."""
        return Probe(self, fail_on=fail_on, reply=reply)


class Probe(Actor[Any]):
    """An actor that records what it receives and its lifecycle in a :class:`ProbeLog`.

    Args:
        log: where to record.
        fail_on: a message type that makes :meth:`receive` raise ``RuntimeError``.
        reply: what an ``ask`` gets back (by default the message itself).
    """

    def __init__(self, log: ProbeLog, *, fail_on: type | None = None, reply: Any = None) -> None:
        self.log = log
        self.fail_on = fail_on
        self.reply = reply

    async def on_start(self) -> None:
        """Record ``start``."""
        self.log.events.append("start")

    async def on_stop(self) -> None:
        """Record ``stop``."""
        self.log.events.append("stop")

    async def on_failure(self, exc: Exception, message: object | None) -> None:
        """Record ``failure``."""
        self.log.events.append("failure")

    async def receive(self, message: Any) -> Any:
        """Record ``message``; raise if it is of the ``fail_on`` type; reply."""
        self.log.messages.append(message)
        if self.fail_on is not None and isinstance(message, self.fail_on):
            raise RuntimeError(f"probe told to fail on {type(message).__name__}")
        return message if self.reply is None else self.reply


async def wait_until(predicate: Any, *, timeout: float = 5.0) -> None:
    """Yield to the event loop until ``predicate()`` is true.

    This polls by checkpoints, not by sleeping, so it waits exactly as long as the work
    takes; ``timeout`` (real seconds) only guards against a test hanging forever.

    Raises:
        TimeoutError: if the predicate is still false after ``timeout`` seconds.
    """
    with anyio.fail_after(timeout):
        while not predicate():
            await checkpoint()


async def settle(*, max_rounds: int = 100_000) -> None:
    """Yield until every other task is blocked (a fast ``wait_all_tasks_blocked``).

    anyio's ``wait_all_tasks_blocked`` sleeps 0.1 s whenever some task is runnable; this
    yields one event-loop round at a time instead, so tests settle in microseconds.

    Raises:
        RuntimeError: if tasks are still runnable after ``max_rounds`` rounds.
    """
    this = asyncio.current_task()
    for _ in range(max_rounds):
        await asyncio.sleep(0)
        for task in asyncio.all_tasks():
            if task is this:
                continue
            waiter = getattr(task, "_fut_waiter", None)
            if waiter is None or waiter.done():
                break
        else:
            return
    raise RuntimeError(f"tasks still runnable after {max_rounds} rounds")
