"""The broker and the pattern engine together, on a real SQLite file with a fake clock.

An explicit early retry carries the glimpse chunk about its error to the handler; a
revise-phase attempt carries up to three chunks, suggestions that mention the earlier
failures and how they ended, and the ``REVISION_SUBPROCESS`` marker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from actorgrid import (
    REVISION_SUBPROCESS,
    BrokerSettings,
    DeliveryContext,
    PatternSettings,
    RetryEarly,
    Runtime,
    RuntimeConfig,
    StorageSettings,
)
from actorgrid.actors.patterns.embedders import HASHING_THRESHOLDS
from actorgrid.kernel import FakeClock, KernelConfig
from actorgrid.kernel.testing import settle, wait_until

if TYPE_CHECKING:
    from pathlib import Path

MINUTE = 60.0

RUNBOOKS = [
    (
        "runbooks/sqlite-locked.md",
        "sqlite3.OperationalError: database is locked\n"
        "Another connection holds the write lock. Use WAL mode, a busy timeout of a few "
        "seconds, and route all writes through one writer.",
    ),
    (
        "runbooks/upstream-timeout.md",
        "TimeoutError: upstream request timed out\n"
        "Check the upstream service's latency dashboard and retry with backoff; raise the "
        "client timeout only if the service is healthy.",
    ),
    (
        "runbooks/rate-limit.md",
        "HTTPError: 429 Too Many Requests\n"
        "The API quota for this client is exhausted. Honour the Retry-After header.",
    ),
    (
        "runbooks/disk-full.md",
        "OSError: [Errno 28] No space left on device\n"
        "Free space by rotating logs and removing old artifacts; check inode usage.",
    ),
]
LOCKED = "sqlite3.OperationalError: database is locked"
TIMED_OUT = "upstream request timed out after 30 s"


class Runtimes:
    """Runtimes on one SQLite file, sharing one fake clock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.clock = FakeClock()

    def __call__(self, pattern: PatternSettings | None = None) -> Runtime:
        config = RuntimeConfig(
            kernel=KernelConfig(strict_messages=True),
            storage=StorageSettings(url=f"sqlite+aiosqlite:///{self.path}"),
            broker=BrokerSettings(drain_timeout=5.0),
            pattern=pattern or PatternSettings(),
        )
        return Runtime(config, clock=self.clock)

    async def advance(self, seconds: float) -> None:
        """Move the fake clock and let timers, gate, engine and workers react."""
        self.clock.advance(seconds)
        await settle()


@pytest.fixture(name="runtimes")
def _runtimes(tmp_path: Path) -> Runtimes:
    return Runtimes(tmp_path / "actorgrid.db")


async def scheduled(rt: Runtime, count: int) -> None:
    """Wait until ``count`` failures have been scheduled for a retry."""
    await wait_until(lambda: rt.statistics().scheduled == count)
    await settle()


Seen = list[tuple[Any, DeliveryContext]]


class TestGlimpseOnEarlyRetry:
    async def test_early_retry_carries_the_runbook_chunk(self, runtimes: Runtimes) -> None:
        """RetryEarly at 0: the retry at +20 min is early and carries the runbook about the
        error (at least the glimpse threshold), never the failure itself; its success is
        recorded."""
        seen: Seen = []

        async def handler(payload: Any, ctx: DeliveryContext) -> None:
            seen.append((payload, ctx))
            if ctx.attempt == 1:
                raise RetryEarly(LOCKED)

        async with runtimes() as rt:
            ids = await rt.add_chunks(RUNBOOKS)
            rt.declare_topic("orders")
            await rt.subscribe("orders", handler)
            await rt.publish("orders", {"order": 1}, target=("order", "o-1"))
            await scheduled(rt, 1)
            await runtimes.advance(20 * MINUTE - 1)
            assert len(seen) == 1
            await runtimes.advance(1)
            await wait_until(lambda: len(seen) == 2)
            await wait_until(lambda: rt.statistics().acked == 1)
            await rt.flush()
            failures = await rt.search_chunks(LOCKED, source="failure", k=5)
        first, retry = seen[0][1], seen[1][1]
        assert (first.references, first.revision) == ((), None)
        assert (retry.early, retry.phase, retry.attempt) == (True, "base", 2)
        [ref] = retry.references
        assert (ref.chunk_id, ref.source) == (ids[0], "runbooks/sqlite-locked.md")
        assert ref.text.startswith(LOCKED)
        assert ref.similarity >= HASHING_THRESHOLDS.glimpse
        assert retry.revision is None
        [failure] = failures
        assert failure.text == LOCKED
        assert {k: failure.metadata[k] for k in ("target", "attempt", "outcome")} == {
            "target": "order:o-1",
            "attempt": 1,
            "outcome": "success",
        }

    async def test_no_chunk_without_a_close_runbook(self, runtimes: Runtimes) -> None:
        """An error no runbook is close to gets an early retry with no references."""
        seen: Seen = []

        async def handler(payload: Any, ctx: DeliveryContext) -> None:
            seen.append((payload, ctx))
            if ctx.attempt == 1:
                raise RetryEarly("KeyError: 'customer_id'")

        async with runtimes() as rt:
            await rt.add_chunks(RUNBOOKS)
            rt.declare_topic("orders")
            await rt.subscribe("orders", handler)
            await rt.publish("orders", 1)
            await scheduled(rt, 1)
            await runtimes.advance(20 * MINUTE)
            await wait_until(lambda: len(seen) == 2)
        assert seen[1][1].early
        assert seen[1][1].references == ()

    async def test_disabled_engine_attaches_nothing(self, runtimes: Runtimes) -> None:
        """With pattern.enabled false the early retry runs with no reference context."""
        seen: Seen = []

        async def handler(payload: Any, ctx: DeliveryContext) -> None:
            seen.append((payload, ctx))
            if ctx.attempt == 1:
                raise RetryEarly(LOCKED)

        async with runtimes(PatternSettings(enabled=False)) as rt:
            rt.declare_topic("orders")
            await rt.subscribe("orders", handler)
            await rt.publish("orders", 1)
            await scheduled(rt, 1)
            await runtimes.advance(20 * MINUTE)
            await wait_until(lambda: len(seen) == 2)
        assert (seen[1][1].early, seen[1][1].references, seen[1][1].revision) == (True, (), None)
        assert not runtimes.path.with_name(runtimes.path.name + ".hnsw").exists()


class TestReviseAfterBaseRetries:
    async def test_revise_phase_attempts_carry_the_revision(self, runtimes: Runtimes) -> None:
        """Target a fails once then succeeds; target b fails until the revise phase (attempt
        4 at +90 min), whose revision names the runbook, b's repeated error and a's recovery,
        with the marker; b then fails into the dead letters and the pattern records both."""
        seen: Seen = []

        async def handler(payload: str, ctx: DeliveryContext) -> None:
            seen.append((payload, ctx))
            if payload == "a" and ctx.attempt > 1:
                return
            raise TimeoutError(TIMED_OUT)

        async with runtimes() as rt:
            await rt.add_chunks(RUNBOOKS)
            rt.declare_topic("calls")
            await rt.subscribe("calls", handler)
            await rt.publish("calls", "a", target=("entity", "a"))
            await rt.publish("calls", "b", target=("entity", "b"))
            await scheduled(rt, 2)
            for step, count in ((1, 3), (2, 4)):  # base retries at +30 and +60 min
                await runtimes.advance(30 * MINUTE)
                await wait_until(lambda n=step: sum(p == "b" for p, _ in seen) == n + 1)
                await scheduled(rt, count)
            assert [c.phase for p, c in seen if p == "b"] == ["first", "base", "base"]
            await runtimes.advance(30 * MINUTE)
            await wait_until(lambda: sum(p == "b" for p, _ in seen) == 4)
            await scheduled(rt, 5)
            ctx = seen[-1][1]
            await runtimes.advance(30 * MINUTE)  # attempt 5
            await wait_until(lambda: sum(p == "b" for p, _ in seen) == 5)
            await scheduled(rt, 6)
            await runtimes.advance(30 * MINUTE)  # attempt 6, the last
            await wait_until(lambda: sum(p == "b" for p, _ in seen) == 6)
            await wait_until(lambda: rt.statistics().dead == 1)
            await rt.flush()
            [pattern] = await rt.recurring_patterns()
        assert (seen[-1][0], seen[-1][1].phase, seen[-1][1].attempt) == ("b", "revise", 6)
        assert (ctx.phase, ctx.attempt, ctx.early) == ("revise", 4, False)
        revision = ctx.revision
        assert revision is not None
        assert revision.marker == REVISION_SUBPROCESS == "REVISION_SUBPROCESS"
        assert 1 <= len(revision.references) <= 3
        assert ctx.references == revision.references
        assert revision.references[0].source == "runbooks/upstream-timeout.md"
        assert all(r.similarity >= HASHING_THRESHOLDS.revise for r in revision.references)
        text = "\n".join(revision.suggestions)
        assert "reference runbooks/upstream-timeout.md" in text
        assert "the same error repeated on all 3 attempts so far" in text
        assert "this resembles 1 earlier failure of 1 other target (entity:a)" in text
        assert "1 ended in success (entity:a after 1 failed attempt)" in text
        assert revision.pattern is not None
        assert revision.pattern.count == 4
        assert revision.pattern.targets == ("entity:a", "entity:b")
        assert revision.pattern.outcomes == {"pending": 3, "success": 1}
        later = seen[-1][1].revision
        assert later is not None
        assert "the same error repeated on all 5 attempts so far" in "\n".join(later.suggestions)
        assert pattern.count == 7
        assert pattern.outcomes == {"success": 1, "dead": 6}
        assert pattern.targets == ("entity:a", "entity:b")
        assert pattern.last_seen - pattern.first_seen == 150 * MINUTE
