"""Tests of the Kernel object itself: background tasks, lifecycle errors (kernel/_kernel.py)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from actorgrid.kernel import Actor, ActorError, FakeClock, Kernel, Message
from actorgrid.kernel.testing import settle, wait_until


class Tick(Message, frozen=True):
    pass


class Ticking(Actor[Any]):
    """Arms a timer task that tells it Tick every 10 s of clock time."""

    def __init__(self, ticks: list[float]) -> None:
        self.ticks = ticks

    async def on_start(self) -> None:
        self.actor_start_task(self._timer)

    async def _timer(self) -> None:
        while True:
            await self.actor_clock.sleep(10)
            await self.actor_ref.tell(Tick())

    async def receive(self, message: Any) -> Any:
        self.ticks.append(self.actor_clock.now())


class TestBackgroundTasks:
    async def test_actor_timer_runs_on_the_fake_clock_and_stops_with_the_actor(self) -> None:
        """A task started by an actor drives it by messages and ends with its incarnation."""
        clock = FakeClock()
        ticks: list[float] = []
        async with Kernel(clock=clock) as kernel:
            await kernel.spawn(lambda: Ticking(ticks), name="t")
            await settle()
            for _ in range(3):
                clock.advance(10)
                await settle()
            assert len(ticks) == 3
            await kernel.stop_actor("t")
            await settle()
            clock.advance(100)
            await settle()
            assert len(ticks) == 3

    async def test_background_failure_is_logged_not_fatal(self) -> None:
        """An exception in a background task does not bring the kernel down."""

        async def broken() -> None:
            raise RuntimeError("nope")

        async with Kernel() as kernel:
            kernel.start_background(broken, name="broken")
            await settle()
            assert kernel.failure is None

    async def test_background_tasks_are_cancelled_at_exit(self) -> None:
        """Leaving the kernel cancels tasks that would run forever."""
        started = anyio.Event()

        async def forever() -> None:
            started.set()
            await anyio.sleep_forever()

        async with Kernel() as kernel:
            kernel.start_background(forever, name="forever")
            await wait_until(started.is_set)

    async def test_not_running(self) -> None:
        """Using a kernel outside its block raises ActorError."""
        kernel = Kernel()
        with pytest.raises(ActorError):
            kernel.start_background(anyio.sleep_forever, name="x")
        with pytest.raises(ActorError):
            await kernel.spawn(Actor, name="a")
