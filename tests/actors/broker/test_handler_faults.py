"""Handler faults stay with their delivery: a stray CancelledError and a failing
``__post_init__`` are the handler's failure, never the worker's or the runtime's."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
from structlog.testing import capture_logs

from actorgrid.actors.broker import BrokerCore
from actorgrid.kernel.testing import wait_until

if TYPE_CHECKING:
    import pytest

    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory


async def stray_cancel() -> None:
    """Await a future that someone else cancels: a CancelledError not aimed at this task."""
    future = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.cancel)
    await future


async def test_stray_cancellation_is_a_nack(runtimes: RuntimeFactory) -> None:
    """The delivery is nacked (scheduled for a retry with the error recorded), the worker
    keeps running, and the next message on the same topic is handled."""
    seen: list[int] = []

    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        seen.append(payload["n"])
        if payload["n"] == 0:
            await stray_cancel()

    async with runtimes() as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler)
        await rt.publish("jobs", {"n": 0}, target=("job", "j0"))
        await rt.publish("jobs", {"n": 1}, target=("job", "j1"))
        await wait_until(lambda: rt.statistics().scheduled == 1 and len(seen) == 2)
        assert await rt.drain(5.0)
        record = await rt.retry_record("job", "j0")
        assert record is not None
        assert record.attempt_count == 1
    rows = runtimes.query("SELECT target_id, state, attempts, last_error FROM messages")
    by_target = {row[0]: row[1:] for row in rows}
    assert by_target["j1"][0] == "done"
    state, attempts, error = by_target["j0"]
    assert (state, attempts) == ("scheduled", 1)
    assert "StrayCancellation" in error


async def test_other_topics_never_notice(runtimes: RuntimeFactory) -> None:
    """A handler of another topic that is in flight during the stray cancellation finishes."""
    b_started = anyio.Event()
    release_b = anyio.Event()
    outcome: list[str] = []

    async def handler_a(payload: dict[str, int], ctx: DeliveryContext) -> None:
        await stray_cancel()

    async def handler_b(payload: dict[str, int], ctx: DeliveryContext) -> None:
        b_started.set()
        try:
            await release_b.wait()
        except BaseException as exc:
            outcome.append(type(exc).__name__)
            raise
        outcome.append("finished")

    async with runtimes() as rt:
        rt.declare_topic("a")
        rt.declare_topic("b")
        await rt.subscribe("a", handler_a)
        await rt.subscribe("b", handler_b)
        await rt.publish("b", {"n": 1})
        await b_started.wait()
        for n in range(20):  # far beyond the root's restart intensity, if it were restarts
            await rt.publish("a", {"n": n})
        await wait_until(lambda: rt.statistics().scheduled == 20)
        release_b.set()
        await wait_until(lambda: outcome == ["finished"])
        assert await rt.drain(5.0)
    states = runtimes.query("SELECT topic, state, COUNT(*) FROM messages GROUP BY topic, state")
    assert sorted(states) == [("a", "scheduled", 20), ("b", "done", 1)]


async def test_a_real_stop_still_cancels(runtimes: RuntimeFactory) -> None:
    """Stopping the runtime cancels a handler stuck past the drain; its message stays ready."""
    started = anyio.Event()
    cancelled: list[bool] = []

    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        started.set()
        try:
            await anyio.sleep_forever()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    from actorgrid import BrokerSettings

    async with runtimes(broker=BrokerSettings(drain_timeout=0.05)) as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler)
        await rt.publish("jobs", {"n": 1})
        await started.wait()
    assert cancelled == [True]
    assert runtimes.query("SELECT state, attempts FROM messages") == [("ready", 0)]


class Strict(msgspec.Struct, frozen=True):
    """A payload type whose own check raises something other than ValueError."""

    key: str

    def __post_init__(self) -> None:
        if self.key == "missing":
            raise LookupError(f"no such key: {self.key}")


async def test_post_init_error_is_undecodable(runtimes: RuntimeFactory) -> None:
    """Any exception from decoding (here __post_init__'s LookupError) dead-letters the message
    as ``undecodable`` without running the handler; the worker goes on with the next one."""
    seen: list[Any] = []

    async def handler(payload: Strict, ctx: DeliveryContext) -> None:
        seen.append(payload)

    async with runtimes() as rt:
        rt.declare_topic("keys")
        await rt.subscribe("keys", handler, payload_type=Strict)
        await rt.publish("keys", {"key": "missing"})
        await rt.publish("keys", {"key": "present"})
        await wait_until(lambda: len(seen) == 1)
        assert await rt.drain(5.0)
        entries = await rt.dead_letters.list()
    assert seen == [Strict("present")]
    assert [(e.reason, e.error_type) for e in entries.entries] == [("undecodable", "LookupError")]


class Fatal(BaseException):
    """An application's own BaseException (not a cancellation, not an exit request)."""


async def test_a_handlers_base_exception_is_a_nack(runtimes: RuntimeFactory) -> None:
    """A BaseException other than a cancellation, KeyboardInterrupt or SystemExit is the
    handler's failure: a nack, not the end of the supervisor's task group (and the runtime)."""
    seen: list[int] = []

    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        seen.append(payload["n"])
        if payload["n"] == 0:
            raise Fatal("the handler's own control flow")

    async with runtimes() as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler)
        await rt.publish("jobs", {"n": 0}, target=("job", "j0"))
        await rt.publish("jobs", {"n": 1}, target=("job", "j1"))
        await wait_until(lambda: rt.statistics().scheduled == 1 and len(seen) == 2)
        assert await rt.drain(5.0)
    rows = dict(runtimes.query("SELECT target_id, last_error FROM messages"))
    assert rows["j1"] is None
    assert rows["j0"].startswith("Fatal: the handler's own control flow")


class Unprintable(Exception):
    """An exception whose message cannot be built."""

    def __str__(self) -> str:
        raise RuntimeError("no message for you")


async def test_an_exception_that_cannot_be_printed_is_a_nack(runtimes: RuntimeFactory) -> None:
    """Its failure is recorded with a placeholder text; the worker does not crash."""

    async def handler(payload: object, ctx: DeliveryContext) -> None:
        raise Unprintable()

    with capture_logs() as logs:
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", handler)
            await rt.publish("jobs", 1, target=("job", "j0"))
            await wait_until(lambda: rt.statistics().scheduled == 1)
            assert await rt.drain(5.0)
    assert runtimes.query("SELECT last_error FROM messages") == [
        ("Unprintable: <str() failed: RuntimeError>",)
    ]
    assert not [e for e in logs if e["event"] == "worker_crashed"]


async def test_a_worker_crashing_again_and_again_leaves_other_topics_alone(
    runtimes: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Topic a's worker crashes on each of 30 messages (more than the restart limits above
    it allow in a minute, without a delay between restarts); topic b's handler in flight all
    along finishes, and b keeps delivering; the runtime goes on."""
    a_calls: list[int] = []
    b_started = anyio.Event()
    release_b = anyio.Event()
    outcome: list[str] = []

    async def handler_a(payload: dict[str, int], ctx: DeliveryContext) -> None:
        a_calls.append(payload["n"])
        raise RuntimeError("a failure the broker then fails to record")

    nack = BrokerCore.nack

    async def broken_nack(self: BrokerCore, d: Any, *args: Any, **kwargs: Any) -> None:
        if d.topic == "a":  # a bug in the broker itself: the worker crashes
            raise LookupError("broker bug")
        await nack(self, d, *args, **kwargs)

    monkeypatch.setattr(BrokerCore, "nack", broken_nack)

    async def handler_b(payload: dict[str, int], ctx: DeliveryContext) -> None:
        if payload["n"] == 0:
            b_started.set()
            try:
                await release_b.wait()
            except BaseException as exc:
                outcome.append(type(exc).__name__)
                raise
        outcome.append(f"b{payload['n']}")

    with capture_logs() as logs:
        async with runtimes(memory=True) as rt:
            rt.declare_topic("a", durable=False)
            rt.declare_topic("b", durable=False)
            await rt.subscribe("a", handler_a)
            await rt.subscribe("b", handler_b)
            await rt.publish("b", {"n": 0})
            await b_started.wait()
            for n in range(30):
                await rt.publish("a", {"n": n})
            for _ in range(1000):  # each restart waits out its delay on the fake clock
                if len(a_calls) == 30:
                    break
                runtimes.clock.advance(5.0)
                await anyio.sleep(0.005)
            assert len(a_calls) == 30
            await rt.publish("b", {"n": 1})
            release_b.set()
            await wait_until(lambda: len(outcome) == 2)
            assert outcome == ["b0", "b1"]
    crashed = [e for e in logs if e["event"] == "worker_crashed"]
    assert len(crashed) == 30
    assert all(e["topic"] == "a" for e in crashed)
    assert not [e for e in logs if e["event"] in ("runtime_failed", "kernel_stop_timeout")]
