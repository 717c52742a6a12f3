"""A pattern engine flooded with failure notes never holds a handler past the broker's
``reference_timeout``: the lookup gives up and the retry runs without references while the
engine is still busy indexing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from actorgrid import BrokerSettings, PatternSettings, RetryEarly, Runtime
from actorgrid.actors.patterns import FailureContext, NoteFailure

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory

FLOOD = 8_000
"""Failure notes, every text distinct: seconds of indexing for the real engine."""


@pytest.mark.anyio
async def test_a_flooded_engine_does_not_hold_the_early_retry(runtimes: RuntimeFactory) -> None:
    config = runtimes.config(
        memory=True,
        broker=BrokerSettings(drain_timeout=5.0, reference_timeout=0.01),
        # Nothing shed: every note of the flood is indexed, so the engine stays busy.
        pattern=PatternSettings(note_backlog_limit=FLOOD + 10, mailbox_capacity=FLOOD + 10),
    )
    attempts: list[tuple[int, int, int]] = []
    done = False

    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        nonlocal done
        depth = engine.mailbox_statistics().depth
        attempts.append((ctx.attempt, len(ctx.references), depth))
        if ctx.attempt == 1:
            raise RetryEarly  # the early retry asks the engine for a glimpse first
        done = True

    async with Runtime(config, clock=runtimes.clock) as rt:
        assert rt.kernel is not None
        engine = rt.kernel.lookup("pattern-engine")
        rt.declare_topic("jobs", durable=False)
        await rt.subscribe("jobs", handler)
        for i in range(FLOOD):
            engine.tell_nowait(
                NoteFailure(
                    FailureContext(
                        topic="other",
                        target_type="row",
                        target_id=f"r{i}",
                        message_id=f"m{i}",
                        attempt=1,
                        error_type="OperationalError",
                        error_message=f"OperationalError: lock {i} held on table t{i % 97}",
                    )
                )
            )
        await rt.publish("jobs", {"n": 1})
        with anyio.fail_after(30):  # a hang guard, not a timing assertion
            while not done:
                runtimes.clock.advance(60.0)  # the early retry comes due when it may
                await anyio.sleep(0.001)
        dropped = rt.metrics().pattern_notes_dropped
    first, early = attempts
    assert first[0] == 1
    assert early[0] == 2
    assert early[1] == 0  # no references: the lookup gave up
    # ... and the handler ran with most of the flood still waiting in the engine's mailbox
    # (a lookup that waited its turn instead leaves about a hundred).
    assert early[2] > FLOOD // 2
    assert dropped == 0  # busy, not shedding: every note is kept
