"""A stray CancelledError in ``receive`` is the actor's failure, never a stop of its tree."""

from __future__ import annotations

import asyncio
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from actorgrid.kernel import Actor, Kernel, StrayCancellation, being_cancelled, stray_failure
from actorgrid.kernel.testing import wait_until


async def stray_cancel() -> None:
    future = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.cancel)
    await future


class Flaky(Actor[Any]):
    """Meets a stray cancellation on "cancel"; counts starts and handled messages."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def on_start(self) -> None:
        self.log.append("start")

    async def receive(self, message: Any) -> Any:
        if message == "cancel":
            await stray_cancel()
        self.log.append(message)
        return message


class Steady(Actor[Any]):
    """A sibling that must not notice."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def receive(self, message: Any) -> Any:
        await anyio.lowlevel.checkpoint()
        self.log.append(message)
        return message


async def test_ask_gets_the_failure_and_the_actor_keeps_running() -> None:
    log: list[str] = []
    async with Kernel() as kernel:
        ref = await kernel.spawn(lambda: Flaky(log), name="flaky")
        with pytest.raises(StrayCancellation) as caught:
            await ref.ask("cancel", timeout=5)
        assert isinstance(caught.value.__cause__, asyncio.CancelledError)
        assert await ref.ask("after", timeout=5) == "after"
    assert log == ["start", "after"]


async def test_tell_crashes_only_that_actor_and_it_restarts() -> None:
    log: list[str] = []
    sibling: list[str] = []
    async with Kernel() as kernel:
        ref = await kernel.spawn(lambda: Flaky(log), name="flaky")
        steady = await kernel.spawn(lambda: Steady(sibling), name="steady")
        await ref.tell("cancel")
        await wait_until(lambda: log.count("start") == 2)
        await ref.tell("after")
        assert await steady.ask("still here", timeout=5) == "still here"
        await wait_until(lambda: "after" in log)
    assert sibling == ["still here"]


async def test_real_cancellation_is_recognised() -> None:
    """``stray_failure`` converts a stray CancelledError and re-raises a real one."""
    converted: list[BaseException] = []
    try:
        await stray_cancel()
    except asyncio.CancelledError as exc:
        converted.append(stray_failure(exc))
        converted.append(asyncio.CancelledError() if being_cancelled() else exc)
    assert isinstance(converted[0], StrayCancellation)
    assert converted[0].__cause__ is converted[1]
    with anyio.CancelScope() as scope:
        scope.cancel()
        try:
            await anyio.sleep(1)
        except asyncio.CancelledError as exc:
            assert being_cancelled()
            with pytest.raises(asyncio.CancelledError):
                stray_failure(exc)
            raise
    assert scope.cancelled_caught
