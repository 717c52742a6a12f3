"""A runtime on a real SQLite file driven through successes, retries in every phase and dead
letters of several reasons, on a fake clock; shared by the metrics and the route tests."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from actorgrid import (
    BrokerSettings,
    DeliveryContext,
    FakeClock,
    KernelConfig,
    RetryEarly,
    Runtime,
    RuntimeConfig,
    StorageSettings,
)
from actorgrid.kernel.testing import settle, wait_until

if TYPE_CHECKING:
    from pathlib import Path

MINUTE = 60.0


class Job(msgspec.Struct, frozen=True):
    """What the ``raw`` topic's handler expects (it is published something else)."""

    kind: str


class Fatal(Exception):
    """A non-retryable failure."""


async def orders(job: dict[str, Any], ctx: DeliveryContext) -> None:
    """Succeeds, fails once, asks for the early retry once, always fails, or fails for good."""
    kind = job["kind"]
    if kind == "fatal":
        raise Fatal("card declined for good")
    if kind in ("doomed", "late"):
        raise RuntimeError(f"gateway timeout for {kind}")
    if kind == "flaky" and ctx.attempt == 1:
        raise RuntimeError("rate limited")
    if kind == "early" and ctx.attempt == 1:
        raise RetryEarly("try again soon")


async def raw(job: Job, ctx: DeliveryContext) -> None:
    """Never runs: every payload published to ``raw`` is undecodable as a :class:`Job`."""


@dataclass
class Scenario:
    """A runtime, its clock and its database file."""

    path: Path
    clock: FakeClock

    @property
    def url(self) -> str:
        return f"sqlite+aiosqlite:///{self.path}"

    def runtime(self) -> Runtime:
        config = RuntimeConfig(
            kernel=KernelConfig(strict_messages=True),
            storage=StorageSettings(url=self.url),
            broker=BrokerSettings(drain_timeout=5.0),
        )
        return Runtime(config, clock=self.clock)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Run a read query on the database file with plain sqlite3."""
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql).fetchall()

    async def advance(self, rt: Runtime, minutes: float, **expected: int) -> None:
        """Move the clock, then wait until the broker's counters reach ``expected``."""
        self.clock.advance(minutes * MINUTE)
        await settle()
        await self.reach(rt, **expected)

    async def reach(self, rt: Runtime, **expected: int) -> None:
        def reached() -> bool:
            stats = rt.statistics()
            return all(getattr(stats, name) == n for name, n in expected.items())

        await wait_until(reached, timeout=20)
        await settle()

    async def drive(self, rt: Runtime) -> None:
        """Run the whole story; afterwards every change is committed.

        ``orders`` (durable, two workers): ``ok`` succeeds; ``flaky`` fails once and its base
        retry succeeds at 30 min; ``early`` asks for the early retry and succeeds in it at
        20 min; ``doomed`` fails six times (base at 30 and 60 min, revise at 90, 120 and 150
        min) and is dead-lettered as exhausted; ``fatal`` is non-retryable; ``late``,
        published last, fails once and stays scheduled. ``raw``: one undecodable message.
        """
        rt.declare_topic("orders")
        rt.declare_topic("raw")
        await rt.subscribe("orders", orders, concurrency=2, non_retryable=(Fatal,))
        await rt.subscribe("raw", raw, payload_type=Job)
        for kind in ("ok", "flaky", "early", "doomed", "fatal"):
            await rt.publish("orders", {"kind": kind})
        await rt.publish("raw", {"nope": 1})
        await self.reach(rt, acked=1, failed=4, scheduled=3, dead=2)
        await self.advance(rt, 20, acked=2)  # the early retry
        await self.advance(rt, 10, acked=3, failed=5, scheduled=4)  # base: flaky, doomed
        await self.advance(rt, 30, failed=6, scheduled=5)  # base: doomed
        await self.advance(rt, 30, failed=7, scheduled=6)  # revise
        await self.advance(rt, 30, failed=8, scheduled=7)  # revise
        await self.advance(rt, 30, failed=9, dead=3)  # revise, then exhausted
        await rt.publish("orders", {"kind": "late"})
        await self.reach(rt, failed=10, scheduled=8)
        await rt.flush()
