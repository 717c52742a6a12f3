"""Tests of the broker through the Runtime: publish, deliver, ack, nack, schedule, dead-letter."""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
import pytest

from actorgrid import (
    BrokerFull,
    DeliveryContext,
    FallbackPolicy,
    InvalidArgument,
    InvalidPayload,
    InvalidTarget,
    NoSubscriber,
    RetryEarly,
    Runtime,
    RuntimeClosed,
    TopicConflict,
    UnknownTopic,
)
from actorgrid.kernel.testing import settle, wait_until

from ..conftest import Recorder, RuntimeFactory, recording

MINUTE = 60.0


class Job(msgspec.Struct, frozen=True):
    name: str
    size: int = 1


async def advance(runtimes: RuntimeFactory, seconds: float) -> None:
    """Move the fake clock and let timers, gate and workers react."""
    runtimes.clock.advance(seconds)
    await settle()


async def scheduled(rt: Runtime, count: int) -> None:
    """Wait until ``count`` failures have been scheduled for a retry (before moving time)."""
    await wait_until(lambda: rt.statistics().scheduled == count)
    await settle()


class TestPublishAndDeliver:
    async def test_typed_payload_and_context(self, runtimes: RuntimeFactory) -> None:
        """A handler gets the payload decoded as the topic's type and a full context."""
        seen: Recorder = []
        async with runtimes() as rt:
            rt.declare_topic("jobs", payload_type=Job)
            await rt.subscribe("jobs", recording(seen))
            mid = await rt.publish("jobs", Job("a", 3), headers={"trace": "t-1"})
            await wait_until(lambda: len(seen) == 1)
        payload, ctx = seen[0]
        assert payload == Job("a", 3)
        assert isinstance(ctx, DeliveryContext)
        assert (ctx.message_id, ctx.topic, ctx.attempt, ctx.phase) == (mid, "jobs", 1, "first")
        assert ctx.target == ("jobs", mid)
        assert ctx.headers == {"trace": "t-1"}
        assert runtimes.query("select state from messages where id = ?", mid) == [("done",)]

    async def test_durable_publish_is_committed_when_it_returns(
        self, runtimes: RuntimeFactory
    ) -> None:
        """The row exists in the file as soon as publish returns (no subscriber needed)."""
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            mid = await rt.publish("jobs", {"k": 1})
            assert runtimes.query("select state, attempts from messages where id = ?", mid) == [
                ("ready", 0)
            ]

    async def test_ready_rows_are_delivered_when_a_subscription_arrives(
        self, runtimes: RuntimeFactory
    ) -> None:
        """Messages published before anyone subscribed are delivered, also after a restart."""
        seen: Recorder = []
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            ids = await rt.publish_batch("jobs", [1, 2, 3])
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", recording(seen))
            await wait_until(lambda: len(seen) == 3)
        assert sorted(p for p, _ in seen) == [1, 2, 3]
        states = runtimes.query("select id, state from messages order by id")
        assert states == sorted((i, "done") for i in ids)

    async def test_parked_and_recovered_messages_are_delivered_once(
        self, runtimes: RuntimeFactory
    ) -> None:
        """Rows of an earlier run, rows published before the subscription, and rows published
        while the backlog loads are each delivered exactly once."""
        seen: Recorder = []
        release = anyio.Event()

        async def held(payload: int, ctx: DeliveryContext) -> None:
            await release.wait()  # keeps this run's rows "ready" while the backlog loads
            seen.append((payload, ctx))

        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.publish_batch("jobs", list(range(600)))
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.publish_batch("jobs", list(range(600, 700)))
            await rt.subscribe("jobs", held, concurrency=4, max_in_flight=2000)
            await rt.publish_batch("jobs", list(range(700, 800)))
            await wait_until(lambda: rt.statistics().queued + rt.statistics().running >= 800)
            await settle()
            release.set()
            await wait_until(lambda: rt.statistics().acked >= 800, timeout=20)
            await rt.drain(5)
        assert sorted(p for p, _ in seen) == list(range(800))
        assert runtimes.query("select state, count(*) from messages group by state") == [
            ("done", 800)
        ]

    async def test_transient_topic_in_memory(self, runtimes: RuntimeFactory) -> None:
        """A memory-only runtime serves transient topics and refuses durable ones."""
        seen: Recorder = []
        async with runtimes(memory=True) as rt:
            with pytest.raises(InvalidArgument, match="durable"):
                rt.declare_topic("jobs")
            rt.declare_topic("fast", durable=False)
            with pytest.raises(NoSubscriber):
                await rt.publish("fast", 1)
            await rt.subscribe("fast", recording(seen), concurrency=3, max_in_flight=30)
            for i in range(50):
                await rt.publish("fast", i)
            await wait_until(lambda: len(seen) == 50)
            assert rt.statistics().acked == 50
        assert not runtimes.path.exists()

    async def test_full_subscription_blocks_publish_and_nowait_raises(
        self, runtimes: RuntimeFactory
    ) -> None:
        """With every worker busy and full, publish waits and publish_nowait raises."""
        gate = anyio.Event()
        handled: list[int] = []

        async def slow(payload: int, ctx: DeliveryContext) -> None:
            await gate.wait()
            handled.append(payload)

        async with runtimes(memory=True) as rt:
            rt.declare_topic("t", durable=False)
            await rt.subscribe("t", slow, concurrency=1, max_in_flight=2)
            await rt.publish("t", 0)  # taken by the worker, which blocks
            await settle()
            rt.publish_nowait("t", 1)
            rt.publish_nowait("t", 2)
            with pytest.raises(BrokerFull):
                rt.publish_nowait("t", 3)
            published = anyio.Event()

            async def publisher() -> None:
                await rt.publish("t", 4)
                published.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(publisher)
                await settle()
                assert not published.is_set()
                gate.set()
            await wait_until(lambda: len(handled) == 4)
        assert handled == [0, 1, 2, 4]


class TestBadInput:
    async def test_bad_publishes_store_nothing(self, runtimes: RuntimeFactory) -> None:
        """Unencodable or mistyped payloads, bad targets and unknown topics change nothing."""
        async with runtimes() as rt:
            rt.declare_topic("jobs", payload_type=Job)
            rt.declare_topic("any")
            with pytest.raises(InvalidPayload, match="expected Job"):
                await rt.publish("jobs", {"name": "a"})
            with pytest.raises(InvalidPayload, match="cannot encode"):
                await rt.publish("any", object())
            with pytest.raises(InvalidPayload):
                await rt.publish_batch("any", [1, object()])
            with pytest.raises(InvalidTarget):
                await rt.publish("any", 1, target=("entity", ""))
            with pytest.raises(InvalidTarget):
                await rt.publish("any", 1, target=("entity", "x" * 256))
            with pytest.raises(InvalidArgument):
                await rt.publish("any", 1, target=("only-one",))  # type: ignore[arg-type]
            with pytest.raises(UnknownTopic):
                await rt.publish("nope", 1)
            with pytest.raises(InvalidArgument):
                await rt.publish("any", 1, headers={"k": 1})  # type: ignore[dict-item]
        assert runtimes.query("select count(*) from messages") == [(0,)]

    async def test_bad_declarations_and_subscriptions(self, runtimes: RuntimeFactory) -> None:
        """Conflicting topics, double subscriptions and bad options raise typed errors."""
        seen: Recorder = []
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            rt.declare_topic("jobs")  # the same settings again is fine
            with pytest.raises(TopicConflict):
                rt.declare_topic("jobs", durable=False)
            with pytest.raises(InvalidArgument):
                rt.declare_topic("")
            with pytest.raises(UnknownTopic):
                await rt.subscribe("nope", recording(seen))
            with pytest.raises(InvalidArgument):
                await rt.subscribe("jobs", recording(seen), concurrency=0)
            with pytest.raises(InvalidArgument):
                await rt.subscribe("jobs", recording(seen), concurrency=4, max_in_flight=2)
            await rt.subscribe("jobs", recording(seen))
            with pytest.raises(TopicConflict):
                await rt.subscribe("jobs", recording(seen))
        with pytest.raises(RuntimeClosed):
            await rt.publish("jobs", 1)

    async def test_undecodable_payload_goes_to_the_dead_letters(
        self, runtimes: RuntimeFactory
    ) -> None:
        """A payload that does not decode as the subscription's type never reaches the handler."""
        seen: Recorder = []
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", recording(seen), payload_type=Job)
            mid = await rt.publish("jobs", [1, 2, 3])
            await wait_until(lambda: rt.statistics().dead == 1)
            await rt.flush()
            assert seen == []
        assert runtimes.query("select state from messages where id = ?", mid) == [("dead",)]
        assert runtimes.query("select reason, message_id from dead_letters") == [
            ("undecodable", mid)
        ]


class TestRetries:
    async def test_worked_timeline_ends_in_the_dead_letters(self, runtimes: RuntimeFactory) -> None:
        """Fail at 0, early at 20m, base at 50m, revise at 80/110/140m, then dead: six attempts."""
        seen: Recorder = []

        def fail(payload: Any, ctx: Any) -> bool:
            if ctx.attempt == 1:
                ctx.request_early_retry()
            return True

        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", recording(seen, fail))
            mid = await rt.publish("jobs", "x")
            await scheduled(rt, 1)
            expected = [(20, True, "base"), (50, False, "base")] + [
                (m, False, "revise") for m in (80, 110, 140)
            ]
            elapsed = 0.0
            for minute, early, phase in expected:
                await advance(runtimes, (minute - elapsed) * MINUTE - 1)
                count = len(seen)
                assert count == len(seen)  # nothing due one second early
                await advance(runtimes, 1)
                await wait_until(lambda n=count: len(seen) == n + 1)
                if minute < 140:
                    await scheduled(rt, len(seen))
                elapsed = minute
                ctx = seen[-1][1]
                assert (ctx.early, ctx.phase) == (early, phase), minute
            await wait_until(lambda: rt.statistics().dead == 1)
            await rt.flush()
        assert [c.attempt for _, c in seen] == [1, 2, 3, 4, 5, 6]
        assert runtimes.query("select state, attempts from messages where id = ?", mid) == [
            ("dead", 6)
        ]
        dead = runtimes.query("select reason, attempts, error_type from dead_letters")
        assert dead == [("exhausted", 6, "RuntimeError")]
        assert runtimes.query("select attempt_count from retry_records") == [(6,)]

    async def test_retry_is_not_delivered_before_its_window(self, runtimes: RuntimeFactory) -> None:
        """A failed message waits the full 30-minute base window, then succeeds and is done."""
        seen: Recorder = []
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", recording(seen, lambda p, c: c.attempt == 1))
            mid = await rt.publish("jobs", "x", target=("entity", "e-1"))
            await scheduled(rt, 1)
            await advance(runtimes, 30 * MINUTE - 1)
            assert len(seen) == 1
            await advance(runtimes, 1)
            await wait_until(lambda: len(seen) == 2)
            await wait_until(lambda: rt.statistics().acked == 1)
            await rt.flush()
            record = await rt.retry_record("entity", "e-1")
            assert record is not None
            assert record.attempt_count == 0
        assert runtimes.query("select state, attempts from messages where id = ?", mid) == [
            ("done", 1)
        ]

    async def test_handler_asks_for_the_early_retry(self, runtimes: RuntimeFactory) -> None:
        """RetryEarly brings the second attempt forward to the 20-minute early window."""
        seen: Recorder = []

        async def handler(payload: Any, ctx: DeliveryContext) -> None:
            seen.append((payload, ctx))
            if ctx.attempt == 1:
                raise RetryEarly("upstream busy")

        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", handler)
            await rt.publish("jobs", "x")
            await scheduled(rt, 1)
            await advance(runtimes, 20 * MINUTE)
            await wait_until(lambda: len(seen) == 2)
        assert seen[1][1].early is True

    async def test_operator_early_retry(self, runtimes: RuntimeFactory) -> None:
        """request_early_retry moves a scheduled message forward once the gate allows it."""
        seen: Recorder = []
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", recording(seen, lambda p, c: c.attempt == 1))
            await rt.publish("jobs", "x", target=("entity", "e-9"))
            await scheduled(rt, 1)
            too_soon = await rt.request_early_retry("entity", "e-9")
            assert not too_soon.granted
            assert too_soon.retry_after == pytest.approx(runtimes.clock.now() + 20 * MINUTE)
            await advance(runtimes, 20 * MINUTE)
            result = await rt.request_early_retry("entity", "e-9")
            assert result.granted
            await wait_until(lambda: len(seen) == 2)
            assert seen[1][1].early
            nothing = await rt.request_early_retry("entity", "e-9")
            assert (nothing.granted, nothing.reason) == (False, "nothing_scheduled")
            with pytest.raises(InvalidTarget):
                await rt.request_early_retry("entity", "")

    async def test_non_retryable_errors_go_straight_to_the_dead_letters(
        self, runtimes: RuntimeFactory
    ) -> None:
        """An exception listed as non-retryable dead-letters the message at once."""

        async def handler(payload: Any, ctx: DeliveryContext) -> None:
            raise PermissionError("bad credentials")

        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", handler, non_retryable=(PermissionError,))
            mid = await rt.publish("jobs", "x")
            await wait_until(lambda: rt.statistics().dead == 1)
            await rt.flush()
        row = runtimes.query(
            "select reason, error_type, error_message, attempts, traceback from dead_letters"
        )
        assert row[0][:4] == ("non_retryable", "PermissionError", "bad credentials", 1)
        assert "PermissionError" in row[0][4]
        assert runtimes.query("select state from messages where id = ?", mid) == [("dead",)]

    async def test_fallback_policy_without_a_gate(self, runtimes: RuntimeFactory) -> None:
        """With the gate off, a count-based policy with backoff decides, then dead-letters."""
        seen: Recorder = []
        fallback = FallbackPolicy(max_attempts=3, base_delay=10, factor=2, jitter=False)
        async with runtimes(gate=False, fallback=fallback) as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", recording(seen, lambda p, c: True))
            await rt.publish("jobs", "x")
            await scheduled(rt, 1)
            await advance(runtimes, 9)
            assert len(seen) == 1
            await advance(runtimes, 1)
            await wait_until(lambda: len(seen) == 2)
            await scheduled(rt, 2)
            await advance(runtimes, 20)
            await wait_until(lambda: rt.statistics().dead == 1)
        assert len(seen) == 3
        assert runtimes.query("select reason, attempts from dead_letters") == [("exhausted", 3)]

    async def test_scheduled_retries_survive_a_restart(self, runtimes: RuntimeFactory) -> None:
        """A scheduled retry is re-armed from its row after a restart and runs on time."""
        seen: Recorder = []
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", recording(seen, lambda p, c: c.attempt == 1))
            mid = await rt.publish("jobs", "x")
            await scheduled(rt, 1)
            await rt.flush()
        assert runtimes.query("select state, attempts from messages") == [("scheduled", 1)]
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", recording(seen, lambda p, c: c.attempt == 1))
            await advance(runtimes, 29 * MINUTE)
            assert len(seen) == 1
            await advance(runtimes, 1 * MINUTE)
            await wait_until(lambda: len(seen) == 2)
            await wait_until(lambda: rt.statistics().acked == 1)
        assert seen[1][1].attempt == 2
        assert runtimes.query("select state from messages where id = ?", mid) == [("done",)]


class TestShutdown:
    async def test_in_flight_handlers_finish_before_stop(self, runtimes: RuntimeFactory) -> None:
        """Leaving the runtime lets running handlers finish and commits their acks."""
        started = anyio.Event()
        finished: list[int] = []

        async def handler(payload: int, ctx: DeliveryContext) -> None:
            started.set()
            await anyio.sleep(0.05)
            finished.append(payload)

        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", handler, concurrency=2)
            await rt.publish_batch("jobs", [1, 2, 3, 4])
            await started.wait()
        assert sorted(finished) == [1, 2, 3, 4]
        assert runtimes.query("select state, count(*) from messages group by state") == [
            ("done", 4)
        ]
