"""A supervisor's stop order: reverse start order by default, all at once when parallel."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from actorgrid.kernel import Actor, ChildSpec, Kernel, SupervisorSpec

COUNT = 3


class Rendezvous(Actor[Any]):
    """Its on_stop finishes only once every sibling is stopping too."""

    def __init__(self, name: str, arrived: list[str], all_here: anyio.Event, done: list[str]):
        self.name = name
        self.arrived = arrived
        self.all_here = all_here
        self.done = done

    async def receive(self, message: Any) -> Any:
        return message

    async def on_stop(self) -> None:
        self.arrived.append(self.name)
        if len(self.arrived) == COUNT:
            self.all_here.set()
        await self.all_here.wait()  # cancelled by the shutdown timeout if alone
        self.done.append(self.name)


def children(arrived: list[str], all_here: anyio.Event, done: list[str]) -> tuple[ChildSpec, ...]:
    def make(name: str) -> ChildSpec:
        return ChildSpec(name, lambda: Rendezvous(name, arrived, all_here, done), shutdown=0.05)

    return tuple(make(f"w{i}") for i in range(COUNT))


async def test_parallel_stop_stops_every_child_at_once() -> None:
    """Each child is asked to stop before any has finished, so all meet and stop cleanly."""
    arrived: list[str] = []
    done: list[str] = []
    all_here = anyio.Event()
    spec = SupervisorSpec(stop_order="parallel", children=children(arrived, all_here, done))
    async with Kernel() as kernel:
        await kernel.spawn_supervisor("pool", spec)
    assert sorted(done) == ["w0", "w1", "w2"]


async def test_reverse_stop_is_one_at_a_time() -> None:
    """The default stops the last child first and waits for it: none meets its siblings."""
    arrived: list[str] = []
    done: list[str] = []
    all_here = anyio.Event()
    spec = SupervisorSpec(children=children(arrived, all_here, done))
    async with Kernel() as kernel:
        await kernel.spawn_supervisor("pool", spec)
    assert arrived == ["w2", "w1", "w0"]
    assert done == ["w0"]  # the last to stop finds the other two already there


def test_bad_stop_order_is_rejected() -> None:
    with pytest.raises(ValueError, match="stop_order"):
        SupervisorSpec(stop_order="random")  # type: ignore[arg-type]


class Stuck(Actor[Any]):
    """Its on_stop never finishes."""

    async def receive(self, message: Any) -> Any:
        return message

    async def on_stop(self) -> None:
        await anyio.sleep_forever()


async def test_a_bounded_stop_cancels_what_is_left_and_names_it() -> None:
    """``stop(timeout)`` gives up after ``timeout`` on a child stuck in on_stop (even one with
    a longer shutdown timeout), logs an error naming it and cancels it."""
    async with Kernel() as kernel:
        await kernel.spawn(Stuck, name="stuck", shutdown=30)
        with capture_logs() as logs:
            with anyio.fail_after(5):
                await kernel.stop(timeout=0.2)
    [error] = [e for e in logs if e["event"] == "kernel_stop_timeout"]
    assert error["log_level"] == "error"
    assert error["still_running"] == ["stuck"]
