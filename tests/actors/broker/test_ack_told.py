"""Without a database a retry's success is told to the gate, not asked: the gate still ends
the target's cycle, in order, before anything asked of it afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from actorgrid import RetryRecord, Runtime
from actorgrid.actors.retry import GetRecord

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory


@pytest.mark.anyio
async def test_a_retry_that_succeeds_ends_the_cycle_in_a_memory_runtime(
    runtimes: RuntimeFactory,
) -> None:
    done = anyio.Event()
    seen: list[int] = []

    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        seen.append(ctx.attempt)
        if ctx.attempt == 1:
            raise RuntimeError("fails once")
        done.set()

    async with Runtime(runtimes.config(memory=True), clock=runtimes.clock) as rt:
        assert rt.kernel is not None
        gate = rt.kernel.lookup("retry-gate")
        rt.declare_topic("jobs", durable=False)
        await rt.subscribe("jobs", handler)
        message_id = await rt.publish("jobs", 1)
        with anyio.fail_after(10):  # a hang guard, not a timing assertion
            while not done.is_set():
                runtimes.clock.advance(60.0)
                await anyio.sleep(0.001)
            assert await rt.drain(5.0)
        record: RetryRecord | None = await gate.ask(GetRecord("jobs", message_id))
        stats = rt.statistics()
    assert seen == [1, 2]
    assert record is not None
    assert record.last_success_at is not None  # the success was recorded: the cycle ended
    assert record.attempt_count == 0
    assert (stats.failed, stats.acked) == (1, 1)
