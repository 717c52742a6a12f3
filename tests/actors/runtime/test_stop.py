"""Leaving ``async with Runtime`` by an exception runs the graceful stop."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import pytest

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory


class Boom(Exception):
    """The caller's own error."""


def slow_handler(started: anyio.Event, finished: list[int]) -> object:
    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        started.set()
        await anyio.sleep(0.05)  # still in flight when the block is left
        finished.append(payload["n"])

    return handler


async def test_exception_exit_drains_and_raises_the_callers_error(
    runtimes: RuntimeFactory,
) -> None:
    """The in-flight handler finishes and is acked; the caller gets ``Boom`` itself."""
    started = anyio.Event()
    finished: list[int] = []

    async def leave_by_an_exception() -> None:
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", slow_handler(started, finished))  # type: ignore[arg-type]
            await rt.publish("jobs", {"n": 1})
            await started.wait()
            raise Boom("the caller's own failure")

    with pytest.raises(Boom) as caught:
        await leave_by_an_exception()
    assert type(caught.value) is Boom
    assert finished == [1]
    assert runtimes.query("SELECT state FROM messages") == [("done",)]
