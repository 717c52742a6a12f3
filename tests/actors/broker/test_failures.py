"""Handler failures go to the retry gate in batches, without a wait each (actors/broker/
_failures.py): a failing worker goes on while the gate decides, the deliveries count as
running until their decisions land, the undecided ones are bounded, the gate sees them in
order, and a gate that cannot answer hands them to the fallback policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest
from structlog.testing import capture_logs

from actorgrid import Runtime
from actorgrid.actors.broker import _failures
from actorgrid.actors.broker._failures import FailureBatches
from actorgrid.actors.broker._stall import StallWatch
from actorgrid.actors.retry import RecordFailure, RecordFailureBatch, RetryGate
from actorgrid.actors.runtime import _runtime
from actorgrid.kernel import Actor, Kernel
from actorgrid.kernel.testing import settle, wait_until

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory

pytestmark = pytest.mark.anyio

KEY = ("account", "a-1")


class HeldGate(RetryGate):
    """The real retry gate, except that it holds (or fails) batches of failures while told
    to: the fault injected is a gate that is slow to answer, or cannot."""

    held = anyio.Event()
    broken = False
    batches: list[int] = []  # reset by the fixture, one test at a time

    async def receive(self, message: Any) -> Any:
        if type(message) is RecordFailureBatch:
            HeldGate.batches.append(len(message.requests))
            await HeldGate.held.wait()
            if HeldGate.broken:
                raise RuntimeError("the gate cannot decide")
        return await super().receive(message)


@pytest.fixture(name="held_gate")
def _held_gate(monkeypatch: pytest.MonkeyPatch) -> type[HeldGate]:
    monkeypatch.setattr(_runtime, "RetryGate", HeldGate)
    HeldGate.held = anyio.Event()
    HeldGate.broken = False
    HeldGate.batches = []
    return HeldGate


async def always_fail(payload: Any, ctx: DeliveryContext) -> None:
    raise RuntimeError(f"fails: {payload}")


async def test_a_failing_worker_goes_on_while_the_gate_decides(
    runtimes: RuntimeFactory, held_gate: type[HeldGate]
) -> None:
    """With the gate holding its first batch, one worker still runs every message; they
    count as running (drain waits) until the decisions land, then all are scheduled."""
    async with Runtime(runtimes.config(memory=True), clock=runtimes.clock) as rt:
        rt.declare_topic("jobs", durable=False)
        await rt.subscribe("jobs", always_fail, concurrency=1, max_in_flight=20)
        ids = [await rt.publish("jobs", i) for i in range(10)]
        await wait_until(lambda: rt.statistics().failed == 10)
        stats = rt.statistics()
        assert (stats.running, stats.scheduled) == (10, 0)
        assert not await rt.drain(0.05)
        held_gate.held.set()
        await wait_until(lambda: rt.statistics().scheduled == 10)
        assert await rt.drain(5.0)
        assert rt.statistics().running == 0
        record = await rt.retry_record("jobs", ids[0])
        assert record is not None
        assert record.attempt_count == 1


async def test_past_the_limit_a_failing_worker_waits_for_decisions(
    runtimes: RuntimeFactory, held_gate: type[HeldGate]
) -> None:
    async with Runtime(runtimes.config(memory=True), clock=runtimes.clock) as rt:
        assert rt._core is not None
        rt._core.failures.limit = 3
        rt.declare_topic("jobs", durable=False)
        await rt.subscribe("jobs", always_fail, concurrency=1, max_in_flight=20)
        for i in range(10):
            await rt.publish("jobs", i)
        await wait_until(lambda: rt.statistics().failed == 3)
        await settle()
        assert rt.statistics().failed == 3  # the third waits for room: no fourth attempt
        assert rt._core.failures.undecided == 3
        held_gate.held.set()
        await wait_until(lambda: rt.statistics().scheduled == 10)
        assert rt._core.failures.undecided == 0


async def test_a_success_after_a_failure_of_the_target_reaches_the_gate_after_it(
    runtimes: RuntimeFactory, held_gate: type[HeldGate]
) -> None:
    """Two messages of one target, the first fails, the second succeeds: the gate records
    them in that order even though the failure was not waited for (the cycle ends)."""
    held_gate.held.set()
    done = anyio.Event()

    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        if payload == "bad":
            raise RuntimeError("fails")
        done.set()

    async with Runtime(runtimes.config(memory=True), clock=runtimes.clock) as rt:
        rt.declare_topic("jobs", durable=False)
        await rt.subscribe("jobs", handler, concurrency=1, max_in_flight=20)
        await rt.publish_batch("jobs", ["bad", "good"], targets=[KEY, KEY])
        await done.wait()
        assert await rt.drain(5.0)
        record = await rt.retry_record(*KEY)
    assert held_gate.batches == [1]
    assert record is not None
    assert record.attempt_count == 0
    assert record.last_success_at is not None


@pytest.mark.parametrize("memory", [True, False], ids=["memory", "sql"])
async def test_a_gate_that_cannot_decide_leaves_the_retry_to_the_fallback(
    runtimes: RuntimeFactory, held_gate: type[HeldGate], memory: bool
) -> None:
    held_gate.broken = True
    held_gate.held.set()
    async with runtimes(memory=memory) as rt:
        rt.declare_topic("jobs", durable=not memory)
        await rt.subscribe("jobs", always_fail)
        with capture_logs() as logs:
            message_id = await rt.publish("jobs", 1)
            await wait_until(lambda: rt.statistics().scheduled == 1)
        assert await rt.drain(5.0)
        assert await rt.retry_record("jobs", message_id) is None  # the fallback decided
        await rt.flush()
    assert any(e["event"] == "gate_record_failed" for e in logs)
    if not memory:
        assert runtimes.query("SELECT state, attempts FROM messages") == [("scheduled", 1)]


class Recorder(Actor[Any]):
    """Answers each batch with its requests' target ids; holds while ``gate`` is unset."""

    def __init__(self, gate: anyio.Event, seen: list[Any]) -> None:
        self.gate = gate
        self.seen = seen

    async def receive(self, message: Any) -> Any:
        await self.gate.wait()
        self.seen.append(message)
        if type(message) is RecordFailureBatch:
            return tuple(r.target_id for r in message.requests)
        return None


class State:
    running = 0


def item(n: int, state: State) -> Any:
    return (f"d{n}", RuntimeError(str(n)), state, 0.0, RecordFailure("t", f"id{n}"))


async def test_a_full_gate_mailbox_delays_the_batch_and_keeps_the_order() -> None:
    """While the gate's mailbox is full the batch waits (sent again on a timer); ``sent``
    returns once it is in the mailbox, so a request made after it is answered after it."""
    open_gate = anyio.Event()
    seen: list[Any] = []
    decided: list[tuple[Any, Any]] = []
    state = State()
    async with Kernel() as kernel:
        gate = await kernel.spawn(lambda: Recorder(open_gate, seen), name="g", capacity=1)
        gate.tell_nowait("first")  # taken, then held
        await settle()
        gate.tell_nowait("second")  # the mailbox is full
        batches = FailureBatches(
            lambda: gate, lambda i, answer: decided.append((i[0], answer)), StallWatch(5.0)
        )
        batches.add(item(1, state))
        batches.add(item(2, state))
        await settle()
        assert batches.pending == 2
        assert state.running == 2

        async def later() -> None:
            await batches.sent()
            await gate.tell("after")

        async with anyio.create_task_group() as tg:
            tg.start_soon(later)
            await settle()
            open_gate.set()
        await wait_until(lambda: len(seen) == 4)
    assert seen[0:2] == ["first", "second"]
    assert type(seen[2]) is RecordFailureBatch
    assert seen[3] == "after"
    assert decided == [("d1", "id1"), ("d2", "id2")]
    assert (state.running, batches.undecided) == (0, 0)


async def test_a_full_batch_is_sent_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_failures, "BATCH", 3)
    open_gate = anyio.Event()
    open_gate.set()
    seen: list[Any] = []
    state = State()
    async with Kernel() as kernel:
        gate = await kernel.spawn(lambda: Recorder(open_gate, seen), name="g")
        batches = FailureBatches(lambda: gate, lambda i, answer: None, StallWatch(5.0))
        for n in range(4):
            batches.add(item(n, state))
        assert batches.pending == 1  # three went at once, the fourth waits for the loop
        await wait_until(lambda: state.running == 0)
    assert [len(b.requests) for b in seen] == [3, 1]


async def test_a_stopped_gate_answers_every_pending_failure_with_its_error() -> None:
    decided: list[tuple[Any, Any]] = []
    state = State()
    async with Kernel() as kernel:
        gate = await kernel.spawn(lambda: Recorder(anyio.Event(), []), name="g")
        await kernel.stop_actor("g")
        batches = FailureBatches(
            lambda: gate, lambda i, answer: decided.append((i[0], answer)), StallWatch(5.0)
        )
        batches.add(item(1, state))
        await wait_until(lambda: state.running == 0)
    assert [d for d, _ in decided] == ["d1"]
    assert type(decided[0][1]).__name__ == "ActorDeadError"
