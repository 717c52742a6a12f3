"""Subscriptions come and go: unsubscribe, a subscribe that fails part-way, parked retries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from actorgrid import BrokerSettings, NoSubscriber, TopicConflict
from actorgrid.kernel import Actor, NameTaken
from actorgrid.kernel.testing import settle, wait_until

from ..common import MIN

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory


class _Idle(Actor[Any]):
    async def receive(self, message: Any) -> None:
        pass


async def test_unsubscribe_lets_handlers_finish_and_the_next_subscription_delivers(
    runtimes: RuntimeFactory,
) -> None:
    release = anyio.Event()
    seen: list[tuple[str, int]] = []

    async def first(n: int, ctx: DeliveryContext) -> None:
        if n == 0:
            await release.wait()
        seen.append(("first", n))

    async def second(n: int, ctx: DeliveryContext) -> None:
        seen.append(("second", n))

    async with runtimes() as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", first)
        for n in range(3):
            await rt.publish("jobs", n)
        await wait_until(lambda: rt.statistics().running == 1)
        async with anyio.create_task_group() as tg:
            tg.start_soon(rt.unsubscribe, "jobs")
            await settle()
            release.set()  # the handler in flight finishes before the workers stop
        assert seen == [("first", 0)]
        for n in range(3, 5):  # no subscription: the rows carry them
            await rt.publish("jobs", n)
        with pytest.raises(NoSubscriber):
            await rt.unsubscribe("jobs")
        await rt.subscribe("jobs", second, concurrency=2)
        await wait_until(lambda: len(seen) == 5)
        await rt.flush()
    assert sorted(n for who, n in seen if who == "second") == [1, 2, 3, 4]
    assert runtimes.query("SELECT state, COUNT(*) FROM messages GROUP BY state") == [("done", 5)]


async def test_a_transient_topic_refuses_publishes_once_unsubscribed(
    runtimes: RuntimeFactory,
) -> None:
    async def handler(n: int, ctx: DeliveryContext) -> None:
        pass

    async with runtimes(memory=True) as rt:
        rt.declare_topic("t", durable=False)
        await rt.subscribe("t", handler)
        await rt.publish("t", 1)
        await rt.unsubscribe("t")
        with pytest.raises(NoSubscriber):
            await rt.publish("t", 2)


async def test_a_subscribe_that_fails_part_way_leaves_nothing_behind(
    runtimes: RuntimeFactory,
) -> None:
    seen: list[int] = []

    async def handler(n: int, ctx: DeliveryContext) -> None:
        seen.append(n)

    async with runtimes() as rt:
        rt.declare_topic("jobs")
        assert rt.kernel is not None
        await rt.kernel.spawn(_Idle, name="sub:jobs:1")  # the second worker's name is taken
        with pytest.raises(NameTaken):
            await rt.subscribe("jobs", handler, concurrency=2)
        with pytest.raises(LookupError):
            rt.kernel.lookup("sub:jobs:0")
        assert rt.statistics().queued == 0
        await rt.publish("jobs", 1)
        await rt.subscribe("jobs", handler)  # one worker: the free name
        with pytest.raises(TopicConflict):
            await rt.subscribe("jobs", handler)
        await wait_until(lambda: seen == [1])


async def test_parked_retries_are_bounded(runtimes: RuntimeFactory) -> None:
    """Retries due while a transient topic has no subscription wait for the next one, up
    to max_parked; past that they become no_subscriber dead letters, not lost memory."""
    seen: list[tuple[int, int]] = []

    async def handler(n: int, ctx: DeliveryContext) -> None:
        seen.append((n, ctx.attempt))
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")

    broker = BrokerSettings(drain_timeout=5.0, max_parked=2)
    async with runtimes(broker=broker) as rt:
        rt.declare_topic("t", durable=False)
        await rt.subscribe("t", handler)
        for n in range(5):
            await rt.publish("t", n)
        await wait_until(lambda: rt.statistics().scheduled == 5)
        await rt.unsubscribe("t")
        runtimes.clock.advance(31 * MIN)
        await wait_until(lambda: rt.statistics().dead == 3)
        await rt.subscribe("t", handler)
        await wait_until(lambda: len(seen) == 7)
        await rt.flush()
    assert sorted(n for n, attempt in seen if attempt == 2) == [0, 1]
    assert runtimes.query("SELECT reason, COUNT(*) FROM dead_letters GROUP BY reason") == [
        ("no_subscriber", 3)
    ]
