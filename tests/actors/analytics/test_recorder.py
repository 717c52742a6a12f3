"""The recorder through the Runtime: live reports, restarts, retention, bad queries.

On a real SQLite file with a fake clock (``runtimes``): what a run counted is in the report
of the next run on the same file; a crash of the recorder neither loses nor doubles a
delta; the prune removes minute and hour buckets after their retentions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from actorgrid import (
    AnalyticsQueryError,
    AnalyticsReport,
    AnalyticsSettings,
    FallbackPolicy,
    Runtime,
)
from actorgrid.actors.analytics import SampleNow
from actorgrid.kernel import Message
from actorgrid.kernel.testing import settle, wait_until

from ..common import T0

if TYPE_CHECKING:
    from ..conftest import RuntimeFactory

MINUTE = 60.0
HOUR = 3600.0
RETRY = 30 * MINUTE
"""The retry gate's default base wait."""


class Crash(Message, frozen=True):
    """A message the recorder does not know: it raises, and its supervisor restarts it."""


class Flaky(Exception):
    """What the handler raises on a message's first attempt."""


def fail_first(failed: set[int], *, always: frozenset[int] = frozenset()) -> Any:
    """A handler that fails each odd ``n`` once (and every ``n`` in ``always``)."""

    async def handler(payload: dict[str, int], ctx: Any) -> None:
        n = payload["n"]
        if n in always or (n % 2 and n not in failed):
            failed.add(n)
            raise Flaky(f"n={n} fails first")

    return handler


async def report(rt: Runtime, **kwargs: Any) -> AnalyticsReport:
    now = rt.kernel.clock.now() if rt.kernel is not None else T0
    kwargs.setdefault("since", T0)
    kwargs.setdefault("until", now + MINUTE)
    return await rt.analytics(**kwargs)


async def advance(runtimes: RuntimeFactory, seconds: float) -> None:
    """Move the fake clock in minute steps (each wakes the recorder's tick) and settle."""
    left = seconds
    while left > 0:
        step = min(MINUTE, left)
        runtimes.clock.advance(step)
        left -= step
        await settle()


class TestLive:
    async def test_a_report_counts_what_was_not_written_yet(self, runtimes: RuntimeFactory) -> None:
        """No sample has run (the clock stands still), yet the report has the publishes,
        the handler calls and their latency."""
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", fail_first(set()))
            for n in (0, 2, 4):
                await rt.publish("jobs", {"n": n})
            await wait_until(lambda: rt.statistics().acked == 3)
            got = await report(rt)
            assert runtimes.query("select count(*) from analytics_buckets") == [(0,)]
        assert got.bucket == 60
        assert got.buckets[0] == T0
        assert got.topics["jobs"].published[0] == 3
        assert got.total.handled[0] == 3
        assert got.total.latency_p50[0] is not None
        assert got.figures.attempts == 3
        assert got.figures.retry_rate == 0.0

    async def test_retries_outcomes_errors_and_time_to_success(
        self, runtimes: RuntimeFactory
    ) -> None:
        """Two of four messages fail once and succeed 30 minutes later: retries in the base
        phase, the error type, and a time to success of about 30 minutes."""
        failed: set[int] = set()
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", fail_first(failed))
            for n in range(4):
                await rt.publish("jobs", {"n": n})
            await wait_until(lambda: rt.statistics().scheduled == 2)
            # Time stands at the retries' instant until they ran (their reads are real I/O).
            await advance(runtimes, RETRY)
            await wait_until(lambda: rt.statistics().acked == 4)
            await advance(runtimes, MINUTE)
            got = await report(rt)
        f = got.figures
        assert (f.attempts, f.retries, f.retry_rate) == (6, 2, 2 / 6)
        assert [(e.error_type, e.count) for e in f.top_errors] == [("Flaky", 2)]
        assert f.time_to_success.count == 2
        assert f.time_to_success.p50 is not None
        assert 0.5 * RETRY <= f.time_to_success.p50 <= 2 * RETRY
        assert sum(got.total.retries.base) == 2
        assert sum(got.total.failed) == 2
        assert sum(got.total.published) == 4
        # The failures are in the first minute, the retries half an hour later: in the
        # minute of the sample before them, the one at the retry's instant or (when the
        # retry ran first at that instant) the one a minute before.
        assert got.total.failed[0] == 2
        retried_at = [i for i, n in enumerate(got.total.retries.base) if n]
        assert len(retried_at) == 1
        assert T0 + RETRY - MINUTE <= got.buckets[retried_at[0]] <= T0 + RETRY

    async def test_dead_letters_by_reason_and_per_hour(self, runtimes: RuntimeFactory) -> None:
        """A message that always fails ends as an ``exhausted`` dead letter."""
        config = runtimes.config(gate=False, fallback=FallbackPolicy(max_attempts=2, jitter=False))
        async with Runtime(config, clock=runtimes.clock) as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", fail_first(set(), always=frozenset({1})))
            await rt.publish("jobs", {"n": 1})
            await wait_until(lambda: rt.statistics().scheduled == 1)
            await advance(runtimes, 2 * MINUTE)
            await wait_until(lambda: rt.statistics().dead == 1)
            got = await report(rt, until=T0 + HOUR)
        assert got.figures.dead_letters.filed == 1
        assert got.figures.dead_letters.per_hour == 1.0
        assert sum(got.topics["jobs"].dead_letters["exhausted"]) == 1
        assert got.figures.retry_rate == 0.5


class TestRestarts:
    async def test_a_new_runtime_on_the_same_file_reports_the_earlier_run(
        self, runtimes: RuntimeFactory
    ) -> None:
        """The graceful stop writes the last deltas; the next run reads them back."""
        failed: set[int] = set()
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", fail_first(failed))
            for n in range(4):
                await rt.publish("jobs", {"n": n})
            await wait_until(lambda: rt.statistics().scheduled == 2)
            await advance(runtimes, RETRY + MINUTE)
            await wait_until(lambda: rt.statistics().acked == 4)
            before = await report(rt)
        stored = runtimes.query(
            "select sum(value) from analytics_buckets where bucket_size = 60 and metric = ?",
            "published",
        )
        assert stored == [(4,)]
        async with runtimes() as rt:
            after = await report(rt)
        assert after.figures == before.figures
        assert after.total == before.total

    async def test_the_first_failure_time_survives_a_restart(
        self, runtimes: RuntimeFactory
    ) -> None:
        """A message fails, the runtime stops with it scheduled; the next run retries it and
        its time to success counts from the first failure in the earlier run."""
        failed: set[int] = set()
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", fail_first(failed))
            await rt.publish("jobs", {"n": 1})
            await wait_until(lambda: rt.statistics().scheduled == 1)
        [(first_failed_at,)] = runtimes.query("select first_failed_at from messages")
        assert first_failed_at == T0
        await advance(runtimes, 25 * MINUTE)
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", fail_first(failed))
            await advance(runtimes, 5 * MINUTE)  # the retry is due at T0 + 30 min
            await wait_until(lambda: rt.statistics().acked == 1)
            got = await report(rt)
        tts = got.figures.time_to_success
        assert tts.count == 1
        assert tts.p50 is not None
        # 30 minutes after the first failure: in the slot of 2**20 to 2**21 - 1 ms (17.5 to
        # 35 minutes); counted from this run's start (5 minutes) it would be two slots below.
        assert 2**20 / 1000 <= tts.p50 <= (2**21 - 1) / 1000

    async def test_a_supervised_restart_of_the_recorder_loses_and_doubles_nothing(
        self, runtimes: RuntimeFactory
    ) -> None:
        """Counts sampled and written, counts sampled and not written, counts not sampled:
        after a crash of the recorder each is counted once."""
        async with runtimes() as rt:
            assert rt.kernel is not None
            recorder = rt.kernel.lookup("analytics")
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", fail_first(set()))
            await rt.publish("jobs", {"n": 0})
            await recorder.ask(SampleNow(), timeout=5)  # sampled and submitted
            await rt.publish("jobs", {"n": 2})
            await wait_until(lambda: rt.statistics().acked == 2)
            recorder.tell_nowait(Crash())
            await wait_until(lambda: _restarts(rt, "analytics") == 1)
            await rt.publish("jobs", {"n": 4})
            await wait_until(lambda: rt.statistics().acked == 3)
            live = await report(rt)
            assert sum(live.total.published) == 3
            assert sum(live.total.handled) == 3
        [(published,)] = runtimes.query(
            "select sum(value) from analytics_buckets where bucket_size = 3600 and metric = ?",
            "published",
        )
        assert published == 3

    async def test_without_a_database_the_buckets_live_in_memory(
        self, runtimes: RuntimeFactory
    ) -> None:
        """``storage.url = None``: samples go to memory and a crash of the recorder keeps them."""
        async with runtimes(memory=True) as rt:
            assert rt.kernel is not None
            rt.declare_topic("jobs", durable=False)
            await rt.subscribe("jobs", fail_first(set()))
            await rt.publish("jobs", {"n": 0})
            await wait_until(lambda: rt.statistics().acked == 1)
            await advance(runtimes, MINUTE)  # a sample, into memory
            rt.kernel.lookup("analytics").tell_nowait(Crash())
            await wait_until(lambda: _restarts(rt, "analytics") == 1)
            await rt.publish("jobs", {"n": 2})
            await wait_until(lambda: rt.statistics().acked == 2)
            got = await report(rt)
        assert sum(got.total.published) == 2
        assert got.total.published[0] == 1


def _restarts(rt: Runtime, name: str) -> int:
    assert rt.kernel is not None
    for child in rt.kernel.root.which_children():
        if child.id == name and child.running:
            return child.restarts
    return -1


class TestRetention:
    @pytest.mark.parametrize("memory", [False, True])
    async def test_minute_then_hour_buckets_are_pruned(
        self, runtimes: RuntimeFactory, memory: bool
    ) -> None:
        """Minute buckets go after the minute retention, hour buckets after theirs."""
        analytics = AnalyticsSettings(
            minute_retention_seconds=10 * MINUTE,
            hour_retention_seconds=3 * HOUR,
            prune_interval=MINUTE,
        )
        async with runtimes(memory=memory, analytics=analytics) as rt:
            rt.declare_topic("jobs", durable=not memory)
            await rt.subscribe("jobs", fail_first(set()))
            await rt.publish("jobs", {"n": 0})
            await wait_until(lambda: rt.statistics().acked == 1)
            await advance(runtimes, MINUTE)
            minutes = await report(rt, bucket=60, until=T0 + HOUR)
            assert sum(minutes.total.published) == 1
            await advance(runtimes, 15 * MINUTE)
            minutes = await pruned(rt, 60)
            hours = await report(rt, bucket=3600, until=T0 + HOUR)
            assert sum(minutes.total.published) == 0
            assert sum(hours.total.published) == 1
            await advance(runtimes, 4 * HOUR)
            hours = await pruned(rt, 3600)
            assert sum(hours.total.published) == 0
        if not memory:
            assert runtimes.query("select count(*) from analytics_buckets") == [(0,)]


async def pruned(rt: Runtime, size: int) -> AnalyticsReport:
    """The first report of ``size`` buckets without the publish (the prune's batches
    commit in the writer's own time, which the fake clock does not move)."""
    with anyio.fail_after(10):
        while True:
            got = await report(rt, bucket=size, until=T0 + HOUR)
            if not sum(got.total.published):
                return got
            await anyio.sleep(0.01)


class TestQueries:
    @pytest.mark.parametrize(
        ("kwargs", "problem"),
        [
            ({"since": T0, "until": T0}, "before until"),
            ({"since": T0 + 1, "until": T0}, "before until"),
            ({"since": T0, "until": T0 + HOUR, "bucket": 300}, "60 or 3600"),
            ({"since": T0, "until": T0 + 100 * 24 * HOUR, "bucket": 60}, "max_points"),
            ({"since": float("nan"), "until": T0}, "finite"),
        ],
    )
    async def test_a_bad_query_is_a_typed_error(
        self, runtimes: RuntimeFactory, kwargs: dict[str, Any], problem: str
    ) -> None:
        async with runtimes() as rt:
            with pytest.raises(AnalyticsQueryError, match=problem) as caught:
                await rt.analytics(**kwargs)
        assert isinstance(caught.value, ValueError)

    async def test_the_bucket_is_chosen_by_the_minute_retention(
        self, runtimes: RuntimeFactory
    ) -> None:
        async with runtimes() as rt:
            recent = await rt.analytics(since=T0 - HOUR, until=T0)
            old = await rt.analytics(since=T0 - 3 * 24 * HOUR, until=T0)
        assert (recent.bucket, len(recent.buckets)) == (60, 60)
        assert (old.bucket, len(old.buckets)) == (3600, 72)

    async def test_topics_select_and_zero_fill(self, runtimes: RuntimeFactory) -> None:
        async with runtimes() as rt:
            rt.declare_topic("a")
            rt.declare_topic("b")
            await rt.publish("a", {"n": 0})
            await rt.publish("b", {"n": 0})
            got = await rt.analytics(since=T0, until=T0 + 5 * MINUTE, topics=["b", "none"])
        assert set(got.topics) == {"b", "none"}
        assert got.topics["none"].published == [0] * 5
        assert got.total.published == [1, 0, 0, 0, 0]
        assert got.topics["none"].latency_p50 == [None] * 5

    async def test_disabled_analytics_spawn_no_recorder(self, runtimes: RuntimeFactory) -> None:
        async with runtimes(analytics=AnalyticsSettings(enabled=False)) as rt:
            assert rt.kernel is not None
            assert "analytics" not in {c.id for c in rt.kernel.root.which_children()}
            rt.declare_topic("a")
            await rt.publish("a", {"n": 0})
            got = await rt.analytics(since=T0, until=T0 + MINUTE)
        assert got.total.published == [0]
