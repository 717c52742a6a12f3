"""An ask always gets an answer, and the deadline sweep sleeps while no ask is pending."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel

from actorgrid.kernel import Actor, ActorDeadError, Kernel
from actorgrid.kernel import _ask_timeouts as ask_timeouts
from actorgrid.kernel.testing import settle, wait_until

if TYPE_CHECKING:
    import pytest


class Stuck(Actor[Any]):
    """Never answers: its receive waits until the actor is killed."""

    def __init__(self, entered: anyio.Event) -> None:
        self.entered = entered

    async def receive(self, message: Any) -> Any:
        self.entered.set()
        await anyio.sleep_forever()


async def test_ask_without_timeout_fails_when_the_actor_is_killed_mid_request() -> None:
    """Stopping an actor past its shutdown timeout kills it; the pending asker gets
    ActorDeadError instead of waiting forever."""
    entered = anyio.Event()
    outcome: list[BaseException] = []

    async with Kernel() as kernel:
        ref = await kernel.spawn(lambda: Stuck(entered), name="stuck", shutdown=0.01)

        async def asker() -> None:
            try:
                await ref.ask("hello", timeout=None)
            except ActorDeadError as exc:
                outcome.append(exc)

        with anyio.fail_after(10):  # a guard against the hang, not a timing assertion
            async with anyio.create_task_group() as tg:
                tg.start_soon(asker)
                await entered.wait()
                await kernel.stop_actor("stuck")
    assert len(outcome) == 1


class CountingAnyio:
    """Stands in for the ``anyio`` module inside the sweep: counts its sleeps."""

    def __init__(self) -> None:
        self.sleeps = 0

    async def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        await anyio.lowlevel.checkpoint()


async def test_sweep_is_idle_without_pending_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    """No timed ask pending: the sweep task does not wake. One ask: it sweeps, then idles."""
    counting = CountingAnyio()
    monkeypatch.setattr(ask_timeouts, "anyio", counting)

    class Echo(Actor[Any]):
        async def receive(self, message: Any) -> Any:
            return message

    async with Kernel() as kernel:
        ref = await kernel.spawn(Echo, name="echo")
        assert await ref.ask("one", timeout=5) == "one"  # starts the sweep task
        await wait_until(lambda: counting.sleeps >= 1)
        await settle()
        idle = counting.sleeps
        for _ in range(200):
            await anyio.lowlevel.checkpoint()
        assert counting.sleeps == idle  # asleep while nothing is pending
        assert await ref.ask("two", timeout=5) == "two"
        await wait_until(lambda: counting.sleeps > idle)
