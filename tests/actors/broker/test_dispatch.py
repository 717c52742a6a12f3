"""Dispatch through a subscription's one work queue: no head-of-line blocking, and a broker
actor that never waits on a busy topic."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from actorgrid import BrokerFull
from actorgrid.actors.broker import WorkQueue
from actorgrid.kernel.testing import settle, wait_until

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory

MINUTE = 60.0


async def test_an_idle_worker_never_waits_behind_a_slow_handler(
    runtimes: RuntimeFactory,
) -> None:
    """One handler is stuck; the other three workers handle everything else meanwhile."""
    release = anyio.Event()
    done: list[int] = []

    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        if payload["i"] == 0:
            await release.wait()
        done.append(payload["i"])

    async with runtimes(memory=True) as rt:
        rt.declare_topic("t", durable=False)
        await rt.subscribe("t", handler, concurrency=4, max_in_flight=40)
        for i in range(12):
            await rt.publish("t", {"i": i})
        await wait_until(lambda: len(done) == 11)
        assert 0 not in done
        assert rt.statistics().queued == 0
        assert rt.statistics().running == 1
        release.set()
        assert await rt.drain(5.0)
    assert sorted(done) == list(range(12))


async def test_max_in_flight_still_bounds_what_waits(runtimes: RuntimeFactory) -> None:
    """With every worker busy, ``max_in_flight`` deliveries queue and the next is refused."""
    release = anyio.Event()

    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        await release.wait()

    async with runtimes(memory=True) as rt:
        rt.declare_topic("t", durable=False)
        await rt.subscribe("t", handler, concurrency=2, max_in_flight=3)
        for i in range(5):  # two running, three queued
            rt.publish_nowait("t", i)
        await wait_until(lambda: rt.statistics().running == 2)
        assert rt.statistics().queued == 3
        try:
            rt.publish_nowait("t", 5)
        except BrokerFull:
            pass
        else:
            raise AssertionError("a sixth message fit into max_in_flight=3")
        release.set()
        assert await rt.drain(5.0)
        assert rt.statistics().acked == 5


async def test_the_broker_answers_while_a_topic_is_full(runtimes: RuntimeFactory) -> None:
    """Due retries of a topic whose one worker is stuck do not hold the broker actor up:
    an early-retry request is answered, and the retries run once the worker is free."""
    release = anyio.Event()
    attempts: list[tuple[int, int]] = []

    async def handler(payload: int, ctx: DeliveryContext) -> None:
        attempts.append((payload, ctx.attempt))
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")
        await release.wait()

    async with runtimes() as rt:
        rt.declare_topic("slow")
        await rt.subscribe("slow", handler, concurrency=1, max_in_flight=1)
        for n in range(5):
            await rt.publish("slow", n)
        await wait_until(lambda: rt.statistics().scheduled == 5)
        await settle()
        runtimes.clock.advance(30 * MINUTE)
        await wait_until(lambda: rt.statistics().running == 1)
        await settle()
        with anyio.fail_after(10):  # a hang guard: the broker used to wait for the worker
            result = await rt.request_early_retry("entity", "unknown")
        assert result.reason == "nothing_scheduled"
        release.set()
        await wait_until(lambda: rt.statistics().acked == 5)
        await rt.flush()
    assert sorted(n for n, attempt in attempts if attempt == 2) == list(range(5))
    assert runtimes.query("SELECT state, COUNT(*) FROM messages GROUP BY state") == [("done", 5)]


class _Ref:
    """Stands in for a worker's ref in the queue's own unit tests (it only takes tells)."""

    def __init__(self) -> None:
        self.got: list[Any] = []

    def tell_nowait(self, d: Any) -> None:
        self.got.append(d)


async def test_the_queue_hands_work_to_idle_workers_in_turn() -> None:
    queue: Any = WorkQueue(2)  # strings stand in for deliveries
    a, b = _Ref(), _Ref()
    queue.next_for(a)
    queue.next_for(b)
    assert queue.offer("d1")
    assert queue.offer("d2")
    assert (a.got, b.got) == (["d1"], ["d2"])
    assert queue.offer("d3")
    assert queue.offer("d4")
    assert not queue.offer("d5")
    queue.push("d5")  # accepted work goes over the bound
    assert len(queue) == 3
    queue.next_for(b)
    assert b.got == ["d2", "d3"]
    queue.retire(a, ["d1"])  # a stops before it began d1
    assert queue.drain() == ["d1", "d4", "d5"]


async def test_a_waiting_put_gets_the_room_a_worker_makes() -> None:
    queue: Any = WorkQueue(1)
    worker = _Ref()
    assert queue.offer("d1")
    async with anyio.create_task_group() as tg:
        tg.start_soon(queue.put, "d2")
        await settle()
        assert len(queue) == 1
        assert not queue.has_room()
        queue.next_for(worker)
    assert worker.got == ["d1"]
    assert queue.drain() == ["d2"]
