"""Scheduled work of durable topics is paged from the table by due time: the broker holds
at most two pages, a restart reads one, and every retry still runs exactly once."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from actorgrid import BrokerSettings
from actorgrid.kernel.testing import settle, wait_until

from ..actors.common import MIN

if TYPE_CHECKING:
    from actorgrid import DeliveryContext, Runtime

    from ..actors.conftest import RuntimeFactory

PAGE = 20
MESSAGES = 130


def _paged(runtimes: RuntimeFactory) -> Runtime:
    return runtimes(broker=BrokerSettings(drain_timeout=5.0, scheduled_page=PAGE))


def _fails_once(attempts: Counter[Any]) -> Any:
    """A handler that counts each payload's attempts and fails the first one."""

    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        attempts[payload] += 1
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")

    return handler


def _held(rt: Runtime) -> int:
    core = rt._core
    assert core is not None
    return core.timetable.durable


async def test_failures_beyond_two_pages_stay_in_the_table(runtimes: RuntimeFactory) -> None:
    """130 failures scheduled, 40 held at most; after the window every retry runs once."""
    attempts: Counter[int] = Counter()

    handler = _fails_once(attempts)

    async with _paged(runtimes) as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler, concurrency=4)
        for n in range(MESSAGES):
            await rt.publish("jobs", n)
        await wait_until(lambda: rt.statistics().scheduled == MESSAGES)
        await settle()
        assert _held(rt) <= 2 * PAGE
        for _ in range(5):  # due one window later; pages are read as the held part runs out
            runtimes.clock.advance(31 * MIN)
            await settle()
        await wait_until(lambda: rt.statistics().acked == MESSAGES, timeout=20)
        await rt.flush()
    assert attempts == Counter(dict.fromkeys(range(MESSAGES), 2))
    assert runtimes.query("SELECT state, attempts, COUNT(*) FROM messages GROUP BY 1, 2") == [
        ("done", 1, MESSAGES)  # one failed attempt each
    ]


async def test_a_restart_reads_one_page_and_resumes_every_retry(
    runtimes: RuntimeFactory,
) -> None:
    attempts: Counter[int] = Counter()

    handler = _fails_once(attempts)

    async with _paged(runtimes) as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler, concurrency=2)
        for n in range(MESSAGES):
            await rt.publish("jobs", n)
        await wait_until(lambda: rt.statistics().scheduled == MESSAGES)
    assert runtimes.query("SELECT COUNT(*) FROM messages WHERE state = 'scheduled'") == [
        (MESSAGES,)
    ]
    async with _paged(runtimes) as rt:
        assert _held(rt) == PAGE  # the first page, not the whole table
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler, concurrency=2)
        for _ in range(5):
            runtimes.clock.advance(31 * MIN)
            await settle()
        await wait_until(lambda: rt.statistics().acked == MESSAGES, timeout=20)
        await rt.flush()
    assert attempts == Counter(dict.fromkeys(range(MESSAGES), 2))


async def test_an_early_retry_of_a_row_after_the_horizon_runs_once(
    runtimes: RuntimeFactory,
) -> None:
    """The last target's row is not held; its early retry is granted from the table, and no
    later page brings the same attempt back."""
    seen: list[tuple[int, int, bool]] = []

    async def handler(n: int, ctx: DeliveryContext) -> None:
        seen.append((n, ctx.attempt, ctx.early))
        if ctx.attempt == 1:
            raise RuntimeError("first attempt fails")

    async with _paged(runtimes) as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler)
        for n in range(MESSAGES):
            await rt.publish("jobs", n, target=("entity", f"e-{n}"))
        await wait_until(lambda: rt.statistics().scheduled == MESSAGES)
        await settle()
        last = f"e-{MESSAGES - 1}"
        runtimes.clock.advance(21 * MIN)
        result = await rt.request_early_retry("entity", last)
        assert result.granted, result
        await wait_until(lambda: (MESSAGES - 1, 2, True) in seen)
        for _ in range(5):
            runtimes.clock.advance(31 * MIN)
            await settle()
        await wait_until(lambda: rt.statistics().acked == MESSAGES, timeout=20)
        await rt.flush()
    second = Counter(n for n, attempt, _ in seen if attempt == 2)
    assert second == Counter(dict.fromkeys(range(MESSAGES), 1))
    assert [n for n, attempt, _ in seen if attempt > 2] == []


async def test_a_restarted_broker_keeps_its_schedule(runtimes: RuntimeFactory) -> None:
    """The broker actor crashes and is restarted: transient retries survive, the held
    durable ones are re-armed once, nothing is attempted twice."""
    attempts: Counter[Any] = Counter()

    handler = _fails_once(attempts)

    async with runtimes() as rt:
        rt.declare_topic("durable")
        rt.declare_topic("transient", durable=False)
        await rt.subscribe("durable", handler)
        await rt.subscribe("transient", handler)
        for n in range(5):
            await rt.publish("durable", f"d{n}")
            await rt.publish("transient", f"t{n}")
        await wait_until(lambda: rt.statistics().scheduled == 10)
        await settle()
        broker = rt._broker
        assert broker is not None
        broker.tell_nowait("not a broker message")  # its receive raises: a crash
        await wait_until(lambda: broker.is_alive)
        await settle()
        runtimes.clock.advance(31 * MIN)
        await wait_until(lambda: rt.statistics().acked == 10)
        await rt.flush()
    assert attempts == Counter({f"{k}{n}": 2 for k in "dt" for n in range(5)})
