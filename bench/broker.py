"""Broker benchmark: transient and durable delivery, the failure path, memory per scheduled message.

Figures (subject and baseline measured in the same process and run, repetitions interleaved,
best of each kept):

* ``transient_throughput``: one producer awaiting ``publish`` on a transient topic of a
  memory-only runtime, one worker (``concurrency=1``, ``max_in_flight=1000``) whose handler
  counts; msgs/s until the handler has seen every message. Baseline: a bounded
  ``asyncio.Queue`` (maxsize 1000) with ``await put`` / ``await get``. Target: 20 % of it.
* ``transient_nowait_throughput`` / ``transient_batch_throughput``: the same topic fed with
  ``publish_nowait`` (a ``max_in_flight`` burst, drained, repeated) or ``publish_batch``
  (1,000 per call), against ``put_nowait`` / ``get`` on the same queue: the ceiling of the
  transient path once the per-publish await is gone.
* ``durable_throughput``: a durable topic on a SQLite file; concurrent publisher tasks each
  awaiting ``publish`` (its row committed by the group-commit writer) until every message
  is handled and its ``done`` state committed. Baseline: one SQLAlchemy ``AsyncSession``
  commit per inserted ``messages`` row, on its own file. Target: 20x.
* ``durable_sequential_throughput``: one producer awaiting each durable ``publish`` in turn
  (so no two of its rows can share a transaction) until every message is handled and its
  ``done`` state committed. Baseline: stdlib ``sqlite3`` committing one ``messages`` insert
  per transaction with the runtime's PRAGMAs (WAL, ``synchronous=NORMAL``), on its own
  file: the per-commit rate of the machine. No target: each message here costs two commits
  (its insert, then its ``done`` state) against the baseline's one, so 0.5x is the ceiling;
  the bar for a sequential producer (at least huey's per-commit rate) is measured against
  huey itself in ``bench/peers.py`` (``sequential_vs_huey-sqlite``).
* ``durable_batch_throughput``: the same with ``publish_batch`` (a few concurrent
  publishers, 500 messages per call), against the same baseline.
* ``failure_path`` / ``failure_path_durable``: handlers that always raise, the default retry
  policy (six attempts, 20/30-minute windows) on a ``FakeClock`` the bench advances as soon
  as every failure of a round is scheduled, until every message is dead-lettered; msgs/s
  (each message runs six attempts). Memory-only with a transient topic, then durable on
  SQLite (state rows, retry records and dead letters committed).
* ``failure_path_with_pattern_engine``: ``failure_path`` with the pattern engine on,
  against the same run with it off (interleaved, best of each). Target: 0.5x.
  ``failure_path_pattern_notes_dropped``: the failure notes the engine dropped in its
  worst run (``RuntimeMetrics.pattern_notes_dropped``); the bench fails if it is not 0.
* ``failed_attempt_throughput`` / ``redelivered_attempt_throughput``: memory-only, engine
  off: messages whose first attempt fails and whose retry succeeds. Failed attempts/s from
  the first publish until every failure is recorded by the retry gate and scheduled, and
  redelivered attempts/s from the clock's move past the window until every retry is acked,
  against first-attempt successes of the same runtime in the same run. Target: 0.2x.
* ``failure_path_analytics``: ``failure_path`` with the analytics recorder on, made to
  sample every 50 ms of real time (two hundred times as often as its default
  ``flush_interval`` of 10 s: the fake clock would otherwise let it sample only when the
  bench moves it), against the same run with ``analytics.enabled = false``; twice the
  repetitions, interleaved, best of each. Memory-only, so that the ratio is the CPU the
  counting and the recorder cost rather than the disk's moods. Target: at least 0.9x.
* ``failure_path_durable_analytics``: the same on SQLite (the deltas written through the
  writer beside the failures' rows); no target (run-to-run I/O noise is larger than the
  recorder's share, which is well under 1 % of the CPU).
* ``head_of_line_p99``: four workers, one handler stuck for 200 ms, quick messages published
  one every 0.5 ms meanwhile; the p99 wait (ms) from a quick message's publish to the start
  of its handler. Baseline: the dispatch actorgrid had before, per-worker queues fed round
  robin (plain ``asyncio.Queue`` and tasks), where a quarter of the messages wait behind
  the stuck handler.
* ``memory_per_scheduled``: tracemalloc bytes per message waiting in the broker's schedule
  after one failure (delivery, heap entry, indexes, the target's retry record and error
  text), payload bytes excluded; a transient topic, so all of them are held. Target: at
  most 1 KiB.
* ``memory_per_scheduled_durable``: the same on a durable topic, everything included: the
  broker holds at most two pages (``broker.scheduled_page``) and the rest are rows, so the
  figure falls as the count grows. Target: at most 1 KiB.
* ``memory_per_parked``: bytes per retry parked for a transient topic whose subscription
  is gone (delivery, list slot, retry record), payload excluded.

Run: ``python -m bench.broker --quick`` (under a minute) or ``--full``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import sqlite3
import sys
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actorgrid import (
    AnalyticsSettings,
    BrokerSettings,
    PatternSettings,
    Runtime,
    RuntimeConfig,
    StorageSettings,
)
from actorgrid.actors.analytics import SampleNow
from actorgrid.kernel import FakeClock, encode
from actorgrid.storage import MessageRow, create_engine, migrate
from bench._common import (
    Figure,
    Mode,
    Tally,
    best_of,
    main_for,
    note,
    pair,
    queue_put_get,
    queue_put_nowait,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine

    from actorgrid import DeliveryContext

IN_FLIGHT = 1000
"""``max_in_flight`` of every subscription here, and maxsize of every baseline queue."""
TOPIC = "bench"
_POLL = 0.001


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work one mode does."""

    runs: int
    transient: int
    durable: int
    publishers: int
    batch: int
    batch_publishers: int
    per_message: int
    sequential: int
    failures: int
    failures_durable: int
    failures_pattern: int
    failed_attempts: int
    scheduled: int
    head_of_line: int


QUICK = Sizes(
    runs=3,
    transient=30_000,
    durable=6_000,
    publishers=100,
    batch=500,
    batch_publishers=4,
    per_message=400,
    sequential=2_000,
    failures=1_000,
    failures_durable=500,
    failures_pattern=200,
    failed_attempts=20_000,
    scheduled=5_000,
    head_of_line=300,
)
FULL = Sizes(
    runs=5,
    transient=200_000,
    durable=40_000,
    publishers=200,
    batch=500,
    batch_publishers=4,
    per_message=2_000,
    sequential=10_000,
    failures=10_000,
    failures_durable=5_000,
    failures_pattern=2_000,
    failed_attempts=100_000,
    scheduled=50_000,
    head_of_line=1_000,
)


async def _always_fail(payload: object, ctx: DeliveryContext) -> None:
    raise RuntimeError("fails on purpose")


async def _wait_for(predicate: Callable[[], bool]) -> None:
    while not predicate():  # noqa: ASYNC110 - polls the broker's counters
        await asyncio.sleep(_POLL)


# -- databases ---------------------------------------------------------------------------


class Databases:
    """Fresh SQLite files for the durable runs, copied from one migrated template."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.template = folder / "template.db"
        migrate(f"sqlite+aiosqlite:///{self.template}")
        conn = sqlite3.connect(self.template)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        self._count = 0

    def fresh(self, name: str) -> str:
        """Return the URL of a new database file at the schema's head revision."""
        self._count += 1
        path = self.folder / f"{name}-{self._count}.db"
        shutil.copyfile(self.template, path)
        return f"sqlite+aiosqlite:///{path}"


def _memory_config(*, pattern: bool = True, analytics: bool = True) -> RuntimeConfig:
    return RuntimeConfig(
        storage=StorageSettings(url=None),
        pattern=PatternSettings(enabled=pattern),
        analytics=AnalyticsSettings(enabled=analytics),
    )


def _durable_config(url: str, *, pattern: bool = True, analytics: bool = True) -> RuntimeConfig:
    return RuntimeConfig(
        storage=StorageSettings(url=url, migrate=False),
        broker=BrokerSettings(drain_timeout=60.0),
        pattern=PatternSettings(enabled=pattern),
        analytics=AnalyticsSettings(enabled=analytics),
    )


# -- transient ---------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _transient_runtime(tally: Tally) -> AsyncIterator[Runtime]:
    async with Runtime(_memory_config()) as rt:
        rt.declare_topic(TOPIC, durable=False)
        await rt.subscribe(TOPIC, tally.handler, concurrency=1, max_in_flight=IN_FLIGHT)
        yield rt


async def transient_publish(n: int) -> float:
    """One producer awaiting ``publish`` on a transient topic; msgs/s until all handled."""
    tally = Tally(n)
    async with _transient_runtime(tally) as rt:
        publish = rt.publish
        start = time.perf_counter()
        for i in range(n):
            await publish(TOPIC, i)
        await tally.done.wait()
        elapsed = time.perf_counter() - start
    return n / elapsed


async def transient_nowait(n: int) -> float:
    """``publish_nowait`` bursts of ``max_in_flight``, each drained before the next; msgs/s."""
    n -= n % IN_FLIGHT
    tally = Tally(n)
    async with _transient_runtime(tally) as rt:
        publish = rt.publish_nowait
        start = time.perf_counter()
        for sent in range(IN_FLIGHT, n + 1, IN_FLIGHT):
            tally.rearm(sent)
            for i in range(IN_FLIGHT):
                publish(TOPIC, i)
            await tally.done.wait()
        elapsed = time.perf_counter() - start
    return n / elapsed


async def transient_batch(n: int) -> float:
    """``publish_batch`` of ``max_in_flight`` payloads per call; msgs/s until all handled."""
    n -= n % IN_FLIGHT
    tally = Tally(n)
    payloads = list(range(IN_FLIGHT))
    async with _transient_runtime(tally) as rt:
        publish = rt.publish_batch
        start = time.perf_counter()
        for _ in range(n // IN_FLIGHT):
            await publish(TOPIC, payloads)
        await tally.done.wait()
        elapsed = time.perf_counter() - start
    return n / elapsed


# -- durable -----------------------------------------------------------------------------


async def _durable_run(
    url: str, n: int, feed: Callable[[Runtime], Coroutine[Any, Any, None]]
) -> float:
    tally = Tally(n)
    async with Runtime(_durable_config(url)) as rt:
        rt.declare_topic(TOPIC)
        await rt.subscribe(TOPIC, tally.handler, concurrency=1, max_in_flight=IN_FLIGHT)
        start = time.perf_counter()
        await feed(rt)
        await tally.done.wait()
        await _wait_for(lambda: rt.statistics().acked >= n)
        await rt.flush()
        elapsed = time.perf_counter() - start
    return n / elapsed


async def durable_publish(url: str, n: int, publishers: int) -> float:
    """``publishers`` tasks each awaiting ``publish`` (committed); msgs/s until done committed."""

    async def feed(rt: Runtime) -> None:
        async def producer(count: int) -> None:
            publish = rt.publish
            for i in range(count):
                await publish(TOPIC, i)

        async with asyncio.TaskGroup() as tg:
            for _ in range(publishers):
                tg.create_task(producer(n // publishers))

    return await _durable_run(url, n // publishers * publishers, feed)


async def durable_batch(url: str, n: int, batch: int, publishers: int) -> float:
    """``publishers`` tasks each awaiting ``publish_batch`` of ``batch``; msgs/s as above."""
    payloads = list(range(batch))
    calls = n // (batch * publishers)

    async def feed(rt: Runtime) -> None:
        async def producer() -> None:
            for _ in range(calls):
                await rt.publish_batch(TOPIC, payloads)

        async with asyncio.TaskGroup() as tg:
            for _ in range(publishers):
                tg.create_task(producer())

    return await _durable_run(url, calls * batch * publishers, feed)


async def durable_sequential(url: str, n: int) -> float:
    """One producer awaiting each ``publish`` (committed) in turn; msgs/s until done committed."""
    return await durable_publish(url, n, 1)


_RAW_INSERT = (
    "INSERT INTO messages (id, topic, target_type, target_id, payload, headers, state,"
    " attempts, available_at, created_at, updated_at, last_error, early_requested)"
    " VALUES (?, ?, ?, ?, ?, NULL, 'ready', 0, ?, ?, ?, NULL, 0)"
)


def raw_per_commit(url: str, n: int) -> float:
    """Baseline: stdlib sqlite3, one ``messages`` insert per transaction (WAL,
    ``synchronous=NORMAL``, as the runtime's engine sets them); rows/s."""
    conn = sqlite3.connect(url.removeprefix("sqlite+aiosqlite:///"), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        payload = encode(0)
        start = time.perf_counter()
        for _ in range(n):
            now = time.time()
            message_id = uuid.uuid4().hex
            conn.execute("BEGIN")
            conn.execute(
                _RAW_INSERT, (message_id, TOPIC, TOPIC, message_id, payload, now, now, now)
            )
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    return n / elapsed


async def per_message_commit(url: str, n: int) -> float:
    """Baseline: one AsyncSession commit per inserted ``messages`` row; rows/s."""
    engine = create_engine(url)
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    payload = encode(0)
    try:
        start = time.perf_counter()
        for _ in range(n):
            now = time.time()
            message_id = uuid.uuid4().hex
            async with sessions() as session:
                session.add(
                    MessageRow(
                        id=message_id,
                        topic=TOPIC,
                        target_type=TOPIC,
                        target_id=message_id,
                        payload=payload,
                        headers=None,
                        state="ready",
                        attempts=0,
                        available_at=now,
                        created_at=now,
                        updated_at=now,
                        last_error=None,
                        early_requested=False,
                    )
                )
                await session.commit()
        elapsed = time.perf_counter() - start
    finally:
        await engine.dispose()
    return n / elapsed


# -- failure path and memory ----------------------------------------------------------------


_SAMPLE_EVERY = 0.05
"""Real seconds between the analytics samples ``failure_path(sample=True)`` forces."""


async def _sample_often(rt: Runtime) -> None:
    assert rt.kernel is not None
    recorder = rt.kernel.lookup("analytics")
    while True:
        await asyncio.sleep(_SAMPLE_EVERY)
        with contextlib.suppress(Exception):  # full: the one before is still writing
            recorder.tell_nowait(SampleNow())


async def failure_path(
    n: int,
    url: str | None,
    *,
    pattern: bool = True,
    analytics: bool = True,
    sample: bool = False,
    dropped: list[int] | None = None,
) -> float:
    """``n`` always-failing messages through six attempts each to the DLQ; msgs/s.

    With ``pattern`` the pattern engine indexes every failure and answers a revise before
    each of the three revise-phase attempts (a worker-thread hop each). ``analytics``
    turns the recorder on or off; with ``sample`` it samples every 50 ms of real time.
    ``dropped`` receives the failure notes the engine dropped (``pattern_notes_dropped``).
    """
    clock = FakeClock()
    config = (
        _memory_config(pattern=pattern, analytics=analytics)
        if url is None
        else _durable_config(url, pattern=pattern, analytics=analytics)
    )
    wait = config.retry.base_wait_minutes * 60.0
    rounds = config.retry.max_retries
    async with Runtime(config, clock=clock) as rt, contextlib.AsyncExitStack() as stack:
        rt.declare_topic(TOPIC, durable=url is not None)
        await rt.subscribe(TOPIC, _always_fail, concurrency=1, max_in_flight=IN_FLIGHT)
        if sample:
            pump = asyncio.get_running_loop().create_task(_sample_often(rt))
            stack.callback(pump.cancel)
        stats = rt.statistics
        start = time.perf_counter()
        for i in range(0, n, IN_FLIGHT):
            await rt.publish_batch(TOPIC, list(range(i, min(i + IN_FLIGHT, n))))
        for k in range(1, rounds + 1):
            expected = k * n
            await _wait_for(lambda: stats().scheduled >= expected)  # noqa: B023 - awaited here
            clock.advance(wait)
        await _wait_for(lambda: stats().dead >= n)
        if url is not None:
            await rt.flush()
        elapsed = time.perf_counter() - start
        if stats().failed != n * (rounds + 1):
            raise AssertionError(f"expected {n * (rounds + 1)} failures, got {stats()}")
        if dropped is not None:
            dropped.append(rt.metrics().pattern_notes_dropped)
    return n / elapsed


async def _fail_once(payload: object, ctx: DeliveryContext) -> None:
    if ctx.attempt == 1:
        raise RuntimeError("fails on purpose, once")


async def failed_attempts(n: int) -> tuple[float, float]:
    """``n`` messages whose first attempt fails and second succeeds, memory-only, engine off.

    Returns (failed attempts/s of the failing phase, redelivered attempts/s of the retry
    phase): the failing phase runs from the first publish until every failure has been
    recorded by the retry gate and scheduled; the retry phase from the clock's move past the
    first window (so every retry is due at once) until every redelivery has been acked.
    """
    clock = FakeClock()
    config = _memory_config(pattern=False)
    wait = config.retry.base_wait_minutes * 60.0
    async with Runtime(config, clock=clock) as rt:
        rt.declare_topic(TOPIC, durable=False)
        await rt.subscribe(TOPIC, _fail_once, concurrency=1, max_in_flight=IN_FLIGHT)
        stats = rt.statistics
        start = time.perf_counter()
        for i in range(0, n, IN_FLIGHT):
            await rt.publish_batch(TOPIC, list(range(i, min(i + IN_FLIGHT, n))))
        await _wait_for(lambda: stats().scheduled >= n)
        failing = time.perf_counter() - start
        start = time.perf_counter()
        clock.advance(wait)
        await _wait_for(lambda: stats().acked >= n)
        retrying = time.perf_counter() - start
        if stats().failed != n:
            raise AssertionError(f"expected {n} failures, got {stats()}")
    return n / failing, n / retrying


async def first_attempt_successes(n: int) -> float:
    """Baseline of ``failed_attempts``: ``n`` first-attempt successes on the same runtime
    (memory-only, engine off, ``publish_batch``); attempts/s until every one is acked."""
    tally = Tally(n)
    async with Runtime(_memory_config(pattern=False), clock=FakeClock()) as rt:
        rt.declare_topic(TOPIC, durable=False)
        await rt.subscribe(TOPIC, tally.handler, concurrency=1, max_in_flight=IN_FLIGHT)
        start = time.perf_counter()
        for i in range(0, n, IN_FLIGHT):
            await rt.publish_batch(TOPIC, list(range(i, min(i + IN_FLIGHT, n))))
        await tally.done.wait()
        await _wait_for(lambda: rt.statistics().acked >= n)
        elapsed = time.perf_counter() - start
    return n / elapsed


async def memory_per_scheduled(n: int) -> float:
    """Tracemalloc bytes per message waiting in the schedule after one failure, sans payload."""
    clock = FakeClock()
    payloads = [f"p{i}" for i in range(n)]
    payload_bytes = sum(sys.getsizeof(encode(p)) for p in payloads)
    # The broker's own cost: the pattern engine (off here) keeps a vector per failure.
    async with Runtime(_memory_config(pattern=False), clock=clock) as rt:
        rt.declare_topic(TOPIC, durable=False)
        await rt.subscribe(TOPIC, _always_fail, concurrency=1, max_in_flight=IN_FLIGHT)
        await rt.publish(TOPIC, "warm-up")
        await _wait_for(lambda: rt.statistics().scheduled >= 1)
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for p in payloads:
                await rt.publish(TOPIC, p)
            await _wait_for(lambda: rt.statistics().scheduled >= n + 1)
            await asyncio.sleep(0.05)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        del payloads
    return (after - before - payload_bytes) / n


_SLOW = 0.2
_HOL_WORKERS = 4
_HOL_GAP = 0.0005


def _p99_ms(waits: list[float]) -> float:
    ordered = sorted(waits)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def head_of_line(n: int) -> float:
    """p99 ms a quick message waits for a worker while one of four handlers is stuck."""
    sent = [0.0] * n
    waits: list[float] = []

    async def handler(i: int, ctx: DeliveryContext) -> None:
        if i < 0:
            await asyncio.sleep(_SLOW)
            return
        waits.append(time.perf_counter() - sent[i])

    async with Runtime(_memory_config(pattern=False)) as rt:
        rt.declare_topic(TOPIC, durable=False)
        await rt.subscribe(TOPIC, handler, concurrency=_HOL_WORKERS, max_in_flight=IN_FLIGHT)
        await rt.publish(TOPIC, -1)
        for i in range(n):
            sent[i] = time.perf_counter()
            await rt.publish(TOPIC, i)
            await asyncio.sleep(_HOL_GAP)
        await _wait_for(lambda: len(waits) == n)
    return _p99_ms(waits)


async def head_of_line_round_robin(n: int) -> float:
    """The same workload on per-worker queues fed round robin (the old dispatch)."""
    sent = [0.0] * n
    waits: list[float] = []
    queues: list[asyncio.Queue[int]] = [asyncio.Queue(IN_FLIGHT) for _ in range(_HOL_WORKERS)]

    async def consume(queue: asyncio.Queue[int]) -> None:
        while True:
            i = await queue.get()
            if i < 0:
                await asyncio.sleep(_SLOW)
            else:
                waits.append(time.perf_counter() - sent[i])

    tasks = [asyncio.create_task(consume(q)) for q in queues]
    await queues[0].put(-1)
    for i in range(n):
        sent[i] = time.perf_counter()
        await queues[(i + 1) % _HOL_WORKERS].put(i)
        await asyncio.sleep(_HOL_GAP)
    await _wait_for(lambda: len(waits) == n)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return _p99_ms(waits)


async def memory_per_scheduled_durable(n: int, url: str) -> float:
    """Tracemalloc bytes per message of a durable topic waiting in the schedule after one
    failure, everything the process holds for it included (the broker holds at most two
    pages of them; the rest are rows)."""
    clock = FakeClock()
    config = _durable_config(url, pattern=False)
    async with Runtime(config, clock=clock) as rt:
        rt.declare_topic(TOPIC)
        await rt.subscribe(TOPIC, _always_fail, concurrency=1, max_in_flight=IN_FLIGHT)
        await rt.publish(TOPIC, "warm-up")
        await _wait_for(lambda: rt.statistics().scheduled >= 1)
        await rt.flush()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(0, n, IN_FLIGHT):
                await rt.publish_batch(TOPIC, [f"p{j}" for j in range(i, min(i + IN_FLIGHT, n))])
            await _wait_for(lambda: rt.statistics().scheduled >= n + 1)
            await rt.flush()
            await asyncio.sleep(0.05)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    return (after - before) / n


async def memory_per_parked(n: int) -> float:
    """Tracemalloc bytes per retry parked for a transient topic without a subscription
    (its delivery, its list slot and its target's retry record), payload bytes excluded."""
    clock = FakeClock()
    payloads = [f"p{i}" for i in range(n)]
    payload_bytes = sum(sys.getsizeof(encode(p)) for p in payloads)
    config = RuntimeConfig(
        storage=StorageSettings(url=None),
        pattern=PatternSettings(enabled=False),
        broker=BrokerSettings(max_parked=n + 1),
    )
    async with Runtime(config, clock=clock) as rt:
        rt.declare_topic(TOPIC, durable=False)
        await rt.subscribe(TOPIC, _always_fail, concurrency=1, max_in_flight=IN_FLIGHT)
        await rt.publish(TOPIC, "warm-up")
        await _wait_for(lambda: rt.statistics().scheduled >= 1)
        core = rt._core
        assert core is not None
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for p in payloads:
                await rt.publish(TOPIC, p)
            await _wait_for(lambda: rt.statistics().scheduled >= n + 1)
            await rt.unsubscribe(TOPIC)
            clock.advance(rt.config.retry.base_wait_minutes * 60.0)  # every retry comes due
            await _wait_for(lambda: len(core.parked.get(TOPIC, ())) >= n + 1)
            await asyncio.sleep(0.05)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        del payloads
    return (after - before - payload_bytes) / n


# -- driver -----------------------------------------------------------------------------------


def run(mode: Mode) -> list[Figure]:
    """Measure everything for ``mode`` and return the figures."""
    sizes = QUICK if mode == "quick" else FULL
    figures: list[Figure] = []
    with asyncio.Runner() as runner, tempfile.TemporaryDirectory(prefix="bench-broker-") as tmp:

        def on_loop(factory: Callable[[], Coroutine[Any, Any, float]]) -> Callable[[], float]:
            return lambda: runner.run(factory())

        note("transient: publish, publish_nowait, publish_batch")
        n = sizes.transient
        value, queue = pair(
            sizes.runs,
            on_loop(lambda: transient_publish(n)),
            on_loop(lambda: queue_put_get(n, IN_FLIGHT)),
        )
        figures.append(
            Figure(
                "transient_throughput",
                "msgs/s",
                value,
                "asyncio.Queue put/get",
                queue,
                target_ratio=0.2,
            )
        )
        value, queue_nowait = pair(
            sizes.runs,
            on_loop(lambda: transient_nowait(n)),
            on_loop(lambda: queue_put_nowait(n, IN_FLIGHT)),
        )
        figures.append(
            Figure(
                "transient_nowait_throughput",
                "msgs/s",
                value,
                "asyncio.Queue put_nowait/get",
                queue_nowait,
            )
        )
        value = best_of(sizes.runs, on_loop(lambda: transient_batch(n)))
        figures.append(
            Figure(
                "transient_batch_throughput",
                "msgs/s",
                value,
                "asyncio.Queue put_nowait/get",
                queue_nowait,
            )
        )

        dbs = Databases(Path(tmp))
        note(f"durable: {sizes.publishers} publishers, one, batches, per-message commit")
        value, base = pair(
            sizes.runs,
            on_loop(lambda: durable_publish(dbs.fresh("d"), sizes.durable, sizes.publishers)),
            on_loop(lambda: per_message_commit(dbs.fresh("pm"), sizes.per_message)),
        )
        figures.append(
            Figure(
                "durable_throughput",
                "msgs/s",
                value,
                "per-message commit",
                base,
                target_ratio=20.0,
            )
        )
        value, raw = pair(
            sizes.runs,
            on_loop(lambda: durable_sequential(dbs.fresh("s"), sizes.sequential)),
            lambda: raw_per_commit(dbs.fresh("r"), sizes.sequential),
        )
        figures.append(
            Figure(
                "durable_sequential_throughput",
                "msgs/s",
                value,
                "raw sqlite3, one insert per commit",
                raw,
            )
        )
        value = best_of(
            sizes.runs,
            on_loop(
                lambda: durable_batch(
                    dbs.fresh("b"), sizes.durable, sizes.batch, sizes.batch_publishers
                )
            ),
        )
        figures.append(
            Figure(
                "durable_batch_throughput",
                "msgs/s",
                value,
                "per-message commit",
                base,
                target_ratio=20.0,
            )
        )

        note("failure path: failed attempts against first-attempt successes")
        failing: list[float] = []
        retrying: list[float] = []
        successes: list[float] = []
        for _ in range(sizes.runs):
            gc.collect()
            fail_rate, retry_rate = runner.run(failed_attempts(sizes.failed_attempts))
            failing.append(fail_rate)
            retrying.append(retry_rate)
            gc.collect()
            successes.append(runner.run(first_attempt_successes(sizes.failed_attempts)))
        figures.append(
            Figure(
                "failed_attempt_throughput",
                "attempts/s",
                max(failing),
                "first-attempt successes, same run",
                max(successes),
                target_ratio=0.2,
            )
        )
        figures.append(
            Figure(
                "redelivered_attempt_throughput",
                "attempts/s",
                max(retrying),
                "first-attempt successes, same run",
                max(successes),
                target_ratio=0.2,
            )
        )
        note("failure path")
        value = best_of(
            sizes.runs, on_loop(lambda: failure_path(sizes.failures, None, pattern=False))
        )
        figures.append(Figure("failure_path", "msgs/s", value))
        value = best_of(
            sizes.runs,
            on_loop(lambda: failure_path(sizes.failures_durable, dbs.fresh("f"), pattern=False)),
        )
        figures.append(Figure("failure_path_durable", "msgs/s", value))
        dropped: list[int] = []
        value, base = pair(
            sizes.runs,
            on_loop(
                lambda: failure_path(sizes.failures_pattern, None, pattern=True, dropped=dropped)
            ),
            on_loop(lambda: failure_path(sizes.failures_pattern, None, pattern=False)),
        )
        figures.append(
            Figure(
                "failure_path_with_pattern_engine",
                "msgs/s",
                value,
                "the same, engine off",
                base,
                target_ratio=0.5,
            )
        )
        note(f"failure notes dropped by the engine, per run: {dropped}")
        figures.append(
            Figure(
                "failure_path_pattern_notes_dropped",
                "notes",
                max(dropped),
                target=0,
                target_direction="max",
            )
        )
        if max(dropped):
            raise AssertionError(f"the engine dropped failure notes at this rate: {dropped}")
        # Twice the repetitions: the figures are ratios of runs that vary run to run.
        value, base = pair(
            2 * sizes.runs,
            on_loop(lambda: failure_path(sizes.failures, None, pattern=False, sample=True)),
            on_loop(lambda: failure_path(sizes.failures, None, pattern=False, analytics=False)),
        )
        figures.append(
            Figure(
                "failure_path_analytics",
                "msgs/s",
                value,
                "the same, analytics off",
                base,
                target_ratio=0.9,
            )
        )
        value, base = pair(
            2 * sizes.runs,
            on_loop(
                lambda: failure_path(
                    sizes.failures_durable, dbs.fresh("fa"), pattern=False, sample=True
                )
            ),
            on_loop(
                lambda: failure_path(
                    sizes.failures_durable, dbs.fresh("fo"), pattern=False, analytics=False
                )
            ),
        )
        figures.append(
            Figure(
                "failure_path_durable_analytics",
                "msgs/s",
                value,
                "the same, analytics off",
                base,
            )
        )

        note("head-of-line: quick messages beside one stuck handler")
        value, base = pair(
            sizes.runs,
            on_loop(lambda: head_of_line(sizes.head_of_line)),
            on_loop(lambda: head_of_line_round_robin(sizes.head_of_line)),
            higher_is_better=False,
        )
        figures.append(
            Figure(
                "head_of_line_p99",
                "ms",
                value,
                "per-worker queues, round robin",
                base,
                higher_is_better=False,
            )
        )

        note(f"memory of {sizes.scheduled:,} scheduled messages")
        memory = runner.run(memory_per_scheduled(sizes.scheduled))
        figures.append(
            Figure(
                "memory_per_scheduled",
                "bytes",
                round(memory),
                target=1024,
                target_direction="max",
            )
        )
        memory = runner.run(memory_per_scheduled_durable(sizes.scheduled, dbs.fresh("m")))
        figures.append(
            Figure(
                "memory_per_scheduled_durable",
                "bytes",
                round(memory),
                target=1024,
                target_direction="max",
            )
        )
        memory = runner.run(memory_per_parked(sizes.scheduled))
        figures.append(Figure("memory_per_parked", "bytes", round(memory)))
    return figures


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m bench.broker --quick|--full``."""
    main_for("broker", __doc__ or "broker benchmark", run, argv)


if __name__ == "__main__":
    main()
