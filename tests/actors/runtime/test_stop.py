"""Leaving ``async with Runtime`` by an exception or a cancellation runs the graceful stop,
and a stop is bounded by the drain timeout plus the close timeout."""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest
from structlog.testing import capture_logs

from actorgrid import BrokerSettings, GateSettings, Runtime, RuntimeClosed, StorageSettings
from actorgrid.kernel import Actor
from actorgrid.kernel.testing import wait_until

from ...locking import hold_write_lock

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


async def test_cancelled_exit_drains_flushes_and_propagates(runtimes: RuntimeFactory) -> None:
    """A ``move_on_after`` around the whole block cancels the caller, not the tree: the
    in-flight handler finishes and is acked, the gate's write-behind is flushed by its
    on_stop, and the cancellation then ends the caller's scope as usual."""
    started = anyio.Event()
    finished: list[int] = []
    slow = slow_handler(started, finished)

    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        if payload["n"] == 0:
            raise RuntimeError("the first message fails once")
        await slow(payload, ctx)  # type: ignore[operator]

    # The fake clock never advances: only the gate's on_stop flushes its write-behind.
    config = msgspec.structs.replace(runtimes.config(), gate=GateSettings(flush_interval=30.0))
    with anyio.move_on_after(30) as scope:
        async with Runtime(config, clock=runtimes.clock) as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", handler)
            await rt.publish("jobs", {"n": 0}, target=("order", "o-0"))
            await wait_until(lambda: rt.statistics().scheduled == 1)
            await rt.reset_retry("order", "o-0")  # write-behind only
            record = await rt.retry_record("order", "o-0")
            assert record is not None
            await rt.publish("jobs", {"n": 1})
            await started.wait()
            scope.cancel()
            await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert finished == [1]
    assert record is not None
    assert runtimes.query("SELECT state FROM messages ORDER BY state") == [
        ("done",),
        ("scheduled",),
    ]
    assert runtimes.query(
        "SELECT attempt_count, version FROM retry_records WHERE target_id = 'o-0'"
    ) == [(record.attempt_count, record.version)]


async def test_cancelled_task_group_stops_gracefully(runtimes: RuntimeFactory) -> None:
    """Cancelling the task group that runs the application stops the runtime gracefully."""
    started = anyio.Event()
    finished: list[int] = []

    async def application() -> None:
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", slow_handler(started, finished))  # type: ignore[arg-type]
            await rt.publish("jobs", {"n": 1})
            await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        tg.start_soon(application)
        await started.wait()
        tg.cancel_scope.cancel()
    assert finished == [1]
    assert runtimes.query("SELECT state FROM messages") == [("done",)]


class StuckOnStop(Actor[Any]):
    """An actor whose on_stop never finishes (it has a generous shutdown timeout)."""

    async def receive(self, message: Any) -> Any:
        return message

    async def on_stop(self) -> None:
        await anyio.sleep_forever()


async def test_a_stop_takes_at_most_the_drain_and_the_close_timeout(
    runtimes: RuntimeFactory,
) -> None:
    """Eight stuck handlers and an actor stuck in its on_stop with a 60 s shutdown timeout:
    the drain times out once, the workers are cancelled after a short grace, the stuck actor
    when the close timeout is spent (named in an error), and the whole stop fits in
    drain_timeout + close_timeout."""
    config = runtimes.config(
        memory=True,
        broker=BrokerSettings(drain_timeout=0.3),
        storage=StorageSettings(url=None, close_timeout=1.0),
    )

    async def stuck(payload: object, ctx: object) -> None:
        await anyio.sleep_forever()

    with capture_logs() as logs:
        async with Runtime(config, clock=runtimes.clock) as rt:
            assert rt.kernel is not None
            await rt.kernel.spawn(StuckOnStop, name="stuck-on-stop", shutdown=60)
            rt.declare_topic("jobs", durable=False)
            await rt.subscribe("jobs", stuck, concurrency=8)
            for n in range(8):
                await rt.publish("jobs", {"n": n})
            await wait_until(lambda: rt.statistics().running == 8)
            started = time.monotonic()
        took = time.monotonic() - started
    assert 1.0 < took < 0.3 + 1.0 + 0.2, f"the stop took {took:.2f}s"
    [error] = [e for e in logs if e["event"] == "kernel_stop_timeout"]
    assert "stuck-on-stop" in error["still_running"]


async def test_a_database_locked_by_another_process_at_close_is_given_up_on(
    runtimes: RuntimeFactory,
) -> None:
    """Another process holds SQLite's write lock through the stop: the drain waits for the
    commit in vain, the stop returns after the close timeout with an error naming what was
    not written; it does not hang."""
    config = runtimes.config(
        broker=BrokerSettings(drain_timeout=0.3),
        storage=StorageSettings(url=runtimes.url, close_timeout=0.5),
    )
    with capture_logs() as logs, contextlib.ExitStack() as lock:
        async with Runtime(config, clock=runtimes.clock) as rt:
            rt.declare_topic("jobs")  # no subscription: the row is all there is to write
            lock.enter_context(hold_write_lock(runtimes.path))  # held until after the stop
            rt.publish_nowait("jobs", {"n": 1})
            await anyio.sleep(0.2)  # its transaction is waiting for the lock
            started = time.monotonic()
        took = time.monotonic() - started
    assert took < 0.3 + 0.5 + 1.0, f"the stop took {took:.2f}s (drain 0.3 s, close 0.5 s)"
    [error] = [e for e in logs if e["event"] == "writer_flush_timeout"]
    assert error["log_level"] == "error"
    # The row, and the analytics sample of its publish (a minute and an hour bucket).
    assert error["unwritten"] == "insert messages: 1, insert analytics_buckets: 2"
    assert runtimes.query("SELECT count(*) FROM messages") == [(0,)]


def refused(rt: Runtime) -> bool:
    """Whether ``rt`` refuses callers outside its handlers (its stop has begun)."""
    try:
        rt.statistics()
    except RuntimeClosed:
        return True
    return False


async def test_handlers_in_flight_during_the_drain_may_publish(runtimes: RuntimeFactory) -> None:
    """A handler still running when the stop begins publishes to a durable and a transient
    topic: both are accepted and delivered, and the durable one is committed, before the stop
    ends. A publish from outside a handler is refused once the stop began."""
    started = anyio.Event()
    release = anyio.Event()
    seen: list[tuple[str, int]] = []
    outside: list[BaseException] = []
    runtime: list[Runtime] = []

    async def order(payload: dict[str, int], ctx: DeliveryContext) -> None:
        started.set()
        await release.wait()  # still in flight when the block is left
        await runtime[0].publish("audit", {"n": payload["n"]})
        await runtime[0].publish("notes", {"n": payload["n"]})

    def record(topic: str) -> Any:
        async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
            seen.append((topic, payload["n"]))

        return handler

    async def from_outside(rt: Runtime) -> None:
        await wait_until(lambda: refused(rt))
        try:
            await rt.publish("audit", {"n": 99})
        except RuntimeClosed as exc:
            outside.append(exc)
        release.set()

    async with anyio.create_task_group() as tg, runtimes() as rt:
        runtime.append(rt)
        rt.declare_topic("orders")
        rt.declare_topic("audit")
        rt.declare_topic("notes", durable=False)
        await rt.subscribe("orders", order)
        await rt.subscribe("audit", record("audit"))
        await rt.subscribe("notes", record("notes"))
        await rt.publish("orders", {"n": 1})
        await started.wait()
        tg.start_soon(from_outside, rt)
    assert len(outside) == 1
    assert sorted(seen) == [("audit", 1), ("notes", 1)]
    assert runtimes.query("SELECT topic, state FROM messages ORDER BY topic") == [
        ("audit", "done"),
        ("orders", "done"),
    ]
