"""Broker rules through the Runtime: per-error policies, pruning, dead-letter replay."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from typing import TYPE_CHECKING, Any

from actorgrid import DeliveryContext, RetryPolicyConfig, Runtime
from actorgrid.kernel.testing import settle, wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from ..conftest import RuntimeFactory

MINUTE = 60.0


class RateLimited(Exception):
    pass


async def rows_become(path: Path, sql: str, expected: list[tuple[Any, ...]]) -> None:
    """Wait until ``sql`` returns ``expected``, polling on one connection kept open."""
    with closing(sqlite3.connect(path)) as conn:
        await wait_until(lambda: conn.execute(sql).fetchall() == expected)


async def scheduled(rt: Runtime, count: int) -> None:
    await wait_until(lambda: rt.statistics().scheduled == count)
    await settle()


class TestErrorPolicies:
    async def test_an_error_type_brings_its_own_windows(self, runtimes: RuntimeFactory) -> None:
        """A rate limit retries on its own 5-minute window; other errors keep the 30 minutes."""
        seen: list[tuple[str, int]] = []

        async def handler(payload: str, ctx: DeliveryContext) -> None:
            seen.append((payload, ctx.attempt))
            if ctx.attempt == 1:
                raise RateLimited("429") if payload == "limited" else RuntimeError("boom")

        fast = RetryPolicyConfig(base_wait_minutes=5, early_wait_minutes=1, max_retries=3)
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", handler, error_policies={RateLimited: fast})
            await rt.publish("jobs", "limited", target=("api", "a"))
            await rt.publish("jobs", "other", target=("api", "b"))
            await scheduled(rt, 2)
            limited = await rt.retry_record("api", "a")
            other = await rt.retry_record("api", "b")
            assert limited is not None
            assert other is not None
            assert limited.policy == fast  # the cycle's snapshot is the error's policy
            assert other.policy == RetryPolicyConfig()
            runtimes.clock.advance(5 * MINUTE)
            await wait_until(lambda: ("limited", 2) in seen)
            await settle()
            assert ("other", 2) not in seen
            runtimes.clock.advance(25 * MINUTE)
            await wait_until(lambda: ("other", 2) in seen)


class TestRetention:
    async def test_done_rows_are_pruned_after_the_retention(self, runtimes: RuntimeFactory) -> None:
        """Done rows older than the retention are deleted; newer ones and live ones stay."""
        from actorgrid import BrokerSettings

        broker = BrokerSettings(retention_seconds=3600, prune_interval=600, drain_timeout=5)
        async with runtimes(broker=broker) as rt:
            rt.declare_topic("jobs")
            seen: list[Any] = []

            async def handler(payload: int, ctx: DeliveryContext) -> None:
                seen.append(payload)

            await rt.subscribe("jobs", handler)
            await rt.publish_batch("jobs", [1, 2, 3])
            await wait_until(lambda: len(seen) == 3)
            runtimes.clock.advance(3000)
            await rt.publish("jobs", 4)
            await wait_until(lambda: len(seen) == 4)
            await rt.flush()
            count = "select count(*) from messages"
            runtimes.clock.advance(1200)  # the prune at +4200 s: the first three are too old
            await rows_become(runtimes.path, count, [(1,)])
            runtimes.clock.advance(3000)  # the prune at +7200 s: the fourth one too
            await rows_become(runtimes.path, count, [(0,)])

    async def test_a_pruned_target_is_replayed_into_a_fresh_cycle(
        self, runtimes: RuntimeFactory
    ) -> None:
        """An exhausted target's record goes after the gate's retention while its dead
        letter stays; replaying the dead letter then starts at attempt 1 of a new cycle."""
        from actorgrid import GateSettings

        attempts: list[int] = []

        async def handler(payload: str, ctx: DeliveryContext) -> None:
            attempts.append(ctx.attempt)
            raise RuntimeError("down")

        policy = RetryPolicyConfig(
            base_wait_minutes=1, early_wait_minutes=1, base_retries=1, max_retries=1
        )
        gate = GateSettings(retention_seconds=3600, prune_interval=600)
        async with runtimes(retry=policy, gate=gate) as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", handler)
            await rt.publish("jobs", "x", target=("account", "a-1"))
            await scheduled(rt, 1)
            runtimes.clock.advance(MINUTE)
            await wait_until(lambda: rt.statistics().dead == 1)
            await rt.flush()
            assert runtimes.query("select attempt_count from retry_records") == [(2,)]
            runtimes.clock.advance(3600 + 600)  # a prune tick more than an hour after it
            await rows_become(runtimes.path, "select count(*) from retry_records", [(0,)])
            (entry,) = (await rt.dead_letters.list(topic="jobs")).entries
            await rt.dead_letters.replay([entry.id])
            await scheduled(rt, 1)
            await rt.flush()
            assert attempts == [1, 2, 1]
            record = await rt.retry_record("account", "a-1")
            assert record is not None
            assert record.attempt_count == 1


class TestReplay:
    async def test_replayed_dead_letter_runs_again_with_a_fresh_cycle(
        self, runtimes: RuntimeFactory
    ) -> None:
        """A dead letter replayed goes back to its topic once, attempt 1, and can succeed."""
        attempts: list[tuple[str, int]] = []
        broken = {"yes": True}

        async def handler(payload: str, ctx: DeliveryContext) -> None:
            attempts.append((ctx.message_id, ctx.attempt))
            if broken["yes"]:
                raise PermissionError("bad credentials")

        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", handler, non_retryable=(PermissionError,))
            await rt.publish("jobs", "x", target=("account", "acc-1"))
            await wait_until(lambda: rt.statistics().dead == 1)
            await rt.flush()
            page = await rt.dead_letters.list(topic="jobs")
            assert page.total == 1
            entry = page.entries[0]
            assert (entry.reason, entry.error_type, entry.attempts) == (
                "non_retryable",
                "PermissionError",
                1,
            )
            shown = await rt.dead_letters.show(entry.id)
            assert shown.envelope.target_id == "acc-1"
            broken["yes"] = False
            first = await rt.dead_letters.replay([entry.id])
            second = await rt.dead_letters.replay([entry.id])
            assert len(first.replayed) == 1
            assert second.replayed == ()
            assert second.already == first.replayed
            new_id = first.replayed[0][1]
            await wait_until(lambda: (new_id, 1) in attempts)
            await wait_until(lambda: rt.statistics().acked == 1)
            await rt.flush()
            assert await rt.dead_letters.count(reason="non_retryable") == 1
            purged = await rt.dead_letters.purge([entry.id])
            assert purged == 1
            assert await rt.dead_letters.count() == 0
        assert runtimes.query("select state from messages where id = ?", new_id) == [("done",)]
        assert len([a for a in attempts if a[0] == new_id]) == 1
