"""One peer, one workload, in a process of its own: the child side of ``bench/peers.py``.

``python -m bench._peers PEER WORKLOAD TASKS FOLDER`` runs the workload once on the peer and
prints one JSON line, ``{"tasks_per_s": ..., "peak_rss_kib": ...}``: the peak RSS of this
process's own image, ``VmHWM`` of ``/proc/self/status`` (``None`` where there is none), so
every peer is measured on a heap of its own. (``ru_maxrss`` of the child, as ``wait4`` gives
it, keeps the high-water mark of the parent's memory the child was forked from: on Linux it
never reads below the parent's RSS, which would hide every peer smaller than the bench.)
Nothing heavy is imported at module level: a child loads only its own peer (actorgrid's
child does not load huey, and the other way round), or its RSS would not be its own.

Every workload is ``TASKS`` no-op tasks handled by four consumers, timed from the first
enqueue until every task has run (and, for actorgrid's durable topics, its ``done`` state is
committed):

* ``single``: each task enqueued by its own call, by concurrent producers (100 tasks for the
  asyncio APIs, 4 threads for the synchronous ones);
* ``failing``: the same, with every fifth task raising on its first attempt and succeeding
  on its retry (each peer's retry at once, or as soon as it allows);
* ``batch``: 4 producers enqueueing 500 tasks per call (per transaction), for the peers that
  have a way to do so;
* ``sequential``: one producer enqueueing one task at a time, each enqueue returning once
  the task is stored (committed).

``floor`` is not a peer: raw ``sqlite3`` inserting the rows and then updating the same rows,
in transactions of 1,000 (WAL, ``synchronous=NORMAL``): the physical limit of a queue on
SQLite on this machine. ``interpreter`` does nothing: the RSS of a bare child.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence

__all__ = ("PEERS", "WORKLOADS", "Workload", "main", "peak_rss_kib", "run")

CONSUMERS: Final = 4
BATCH: Final = 500
ASYNC_PRODUCERS: Final = 100
THREAD_PRODUCERS: Final = 4
FAIL_EVERY: Final = 5
"""Every fifth task (20 %) fails once."""
TIMEOUT: Final = float(os.environ.get("BENCH_PEERS_TIMEOUT", "600"))
"""Seconds a run may take before the child gives up (a hung peer must not hang the bench)."""
_IDLE: Final = 0.001
"""Seconds a polling consumer sleeps on an empty queue."""


@dataclass(frozen=True, slots=True)
class Workload:
    """How tasks are enqueued in one workload."""

    name: str
    async_producers: int
    thread_producers: int
    batch: int | None
    """Tasks per enqueue call; None for one call per task."""
    failing: bool


WORKLOADS: Final = {
    "single": Workload("single", ASYNC_PRODUCERS, THREAD_PRODUCERS, None, failing=False),
    "failing": Workload("failing", ASYNC_PRODUCERS, THREAD_PRODUCERS, None, failing=True),
    "batch": Workload("batch", CONSUMERS, CONSUMERS, BATCH, failing=False),
    "sequential": Workload("sequential", 1, 1, None, failing=False),
}


def fails_first(i: int) -> bool:
    """Whether task ``i`` of a failing workload raises on its first attempt."""
    return i % FAIL_EVERY == 0


class Done:
    """Counts completed tasks from any thread and fires once all of them have run."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.count = 0
        self._lock = threading.Lock()
        self.event = threading.Event()

    def hit(self) -> None:
        with self._lock:
            self.count += 1
            if self.count >= self.target:
                self.event.set()

    def wait(self) -> None:
        if not self.event.wait(TIMEOUT):
            raise TimeoutError(f"{self.count} of {self.target} tasks ran in {TIMEOUT:.0f} s")


def shares(n: int, parts: int) -> list[range]:
    """Split task numbers 0..n-1 into ``parts`` contiguous ranges."""
    step = -(-n // parts)
    return [range(i, min(i + step, n)) for i in range(0, n, step)]


def chunks(numbers: range, size: int) -> list[range]:
    return [numbers[i : i + size] for i in range(0, len(numbers), size)]


def produce_in_threads(
    w: Workload, n: int, put: Callable[[int], object], put_many: Callable[[range], None] | None
) -> None:
    """Enqueue tasks 0..n-1 from ``w.thread_producers`` threads; return once all are in."""

    def producer(numbers: range) -> None:
        if w.batch is None:
            for i in numbers:
                put(i)
        else:
            assert put_many is not None
            for part in chunks(numbers, w.batch):
                put_many(part)

    threads = [threading.Thread(target=producer, args=(r,)) for r in shares(n, w.thread_producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def timed(
    w: Workload,
    done: Done,
    put: Callable[[int], object],
    put_many: Callable[[range], None] | None = None,
) -> float:
    """Enqueue every task from producer threads and wait until all have run; tasks/s."""
    start = time.perf_counter()
    produce_in_threads(w, done.target, put, put_many)
    done.wait()
    return done.target / (time.perf_counter() - start)


# -- actorgrid ---------------------------------------------------------------------------


async def _actorgrid(w: Workload, n: int, folder: Path, *, durable: bool, pattern: bool) -> float:
    import asyncio

    import structlog

    from actorgrid import (
        BrokerSettings,
        PatternSettings,
        RetryPolicyConfig,
        Runtime,
        RuntimeConfig,
        StorageSettings,
    )

    # Quiet, as every bench keeps it: stdout carries the result line only.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    url = f"sqlite+aiosqlite:///{folder / 'actorgrid.db'}" if durable else None
    config = RuntimeConfig(
        storage=StorageSettings(url=url),
        retry=RetryPolicyConfig(base_wait_minutes=0.0, early_wait_minutes=0.0),
        broker=BrokerSettings(drain_timeout=60.0),
        pattern=PatternSettings(enabled=pattern),
    )
    done = asyncio.Event()
    count = 0

    async def handler(i: int, ctx: Any) -> None:
        nonlocal count
        if w.failing and ctx.attempt == 1 and fails_first(i):
            raise RuntimeError("fails once on purpose")
        count += 1
        if count >= n:
            done.set()

    async with Runtime(config) as rt:
        rt.declare_topic("bench", durable=durable)
        await rt.subscribe("bench", handler, concurrency=CONSUMERS, max_in_flight=1000)

        async def producer(numbers: range) -> None:
            if w.batch is None:
                publish = rt.publish
                for i in numbers:
                    await publish("bench", i)
            else:
                for part in chunks(numbers, w.batch):
                    await rt.publish_batch("bench", list(part))

        start = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for numbers in shares(n, w.async_producers):
                tg.create_task(producer(numbers))
        await asyncio.wait_for(done.wait(), TIMEOUT)
        if durable:
            while rt.statistics().acked < n:  # noqa: ASYNC110 - polls the broker's counter
                await asyncio.sleep(_IDLE)
            await rt.flush()
        return n / (time.perf_counter() - start)


def _run(coroutine: Coroutine[Any, Any, float | None]) -> float | None:
    # asyncio pulls in ssl (some 10 MB of RSS): loaded only by the children that use it.
    import asyncio

    return asyncio.run(coroutine)


def actorgrid_durable(w: Workload, n: int, folder: Path) -> float | None:
    return _run(_actorgrid(w, n, folder, durable=True, pattern=False))


def actorgrid_memory(w: Workload, n: int, folder: Path) -> float | None:
    return _run(_actorgrid(w, n, folder, durable=False, pattern=False))


def actorgrid_durable_pattern(w: Workload, n: int, folder: Path) -> float | None:
    return _run(_actorgrid(w, n, folder, durable=True, pattern=True))


# -- huey -----------------------------------------------------------------------------------


def _huey(w: Workload, n: int, huey: Any) -> float:
    done = Done(n)

    @huey.task(retries=1 if w.failing else 0, retry_delay=0, context=True)  # type: ignore[untyped-decorator]
    def noop(i: int, task: Any = None) -> None:
        if w.failing and task is not None and task.retries == 1 and fails_first(i):
            raise RuntimeError("fails once on purpose")
        done.hit()

    # The consumer's own threads, polling an empty queue every 1 ms (its default starts at
    # 100 ms and backs off to 10 s, which would time the idle poll, not the queue).
    consumer = huey.create_consumer(
        workers=CONSUMERS, worker_type="thread", initial_delay=_IDLE, max_delay=0.01
    )
    consumer.start()
    try:
        return timed(w, done, noop)
    finally:
        consumer.stop(graceful=True)


def huey_sqlite(w: Workload, n: int, folder: Path) -> float | None:
    if w.batch is not None:
        return None  # huey enqueues one task per call and per transaction
    from huey import SqliteHuey

    return _huey(w, n, SqliteHuey("bench", filename=str(folder / "huey.db")))


def huey_memory(w: Workload, n: int, folder: Path) -> float | None:
    if w.batch is not None:
        return None
    from huey import MemoryHuey

    return _huey(w, n, MemoryHuey("bench"))


# -- persist-queue and litequeue: a queue, no worker; four consumer threads of our own ------


def _consume_in_threads(
    handle: Callable[[], bool], stop: threading.Event
) -> list[threading.Thread]:
    """Start the consumer threads; ``handle`` takes one task (False when the queue was empty)."""

    def consumer() -> None:
        while not stop.is_set():
            if not handle():
                time.sleep(_IDLE)

    threads = [threading.Thread(target=consumer, daemon=True) for _ in range(CONSUMERS)]
    for t in threads:
        t.start()
    return threads


def persist_queue(w: Workload, n: int, folder: Path) -> float | None:
    if w.batch is not None:
        return None  # SQLiteAckQueue commits every put on its own
    from persistqueue import SQLiteAckQueue
    from persistqueue.exceptions import Empty

    queue = SQLiteAckQueue(str(folder / "pq"), multithreading=True, auto_resume=False)
    done = Done(n)
    tried: set[int] = set()
    stop = threading.Event()

    def handle() -> bool:
        try:
            item = queue.get(block=False, raw=True)
        except Empty:
            return False
        i = item["data"]
        if w.failing and fails_first(i) and i not in tried:
            tried.add(i)
            queue.nack(id=item["pqid"])  # back to the queue: its retry
            return True
        queue.ack(id=item["pqid"])
        done.hit()
        return True

    threads = _consume_in_threads(handle, stop)
    try:
        return timed(w, done, queue.put)
    finally:
        stop.set()
        for t in threads:
            t.join()


def litequeue(w: Workload, n: int, folder: Path) -> float | None:
    from litequeue import LiteQueue

    path = str(folder / "litequeue.db")
    LiteQueue(path).close()  # create the table before the threads race to
    local = threading.local()

    def queue() -> Any:
        # One connection per thread: litequeue's transactions are per connection.
        if not hasattr(local, "queue"):
            local.queue = LiteQueue(path, timeout=30)
        return local.queue

    done = Done(n)
    tried: set[int] = set()
    stop = threading.Event()

    def handle() -> bool:
        q = queue()
        message = q.pop()
        if message is None:
            return False
        i = int(message.data)
        if w.failing and fails_first(i) and i not in tried:
            tried.add(i)
            q.retry(message.message_id)
            return True
        q.done(message.message_id)
        done.hit()
        return True

    def put(i: int) -> None:
        queue().put(str(i))

    def put_many(numbers: range) -> None:
        q = queue()
        with q.transaction():
            for i in numbers:
                q.put(str(i))

    threads = _consume_in_threads(handle, stop)
    try:
        return timed(w, done, put, put_many)
    finally:
        stop.set()
        for t in threads:
            t.join()


# -- Pykka: actors in memory ----------------------------------------------------------------


def pykka_actors(w: Workload, n: int, folder: Path) -> float | None:
    if w.batch is not None:
        return None  # a tell is one message; there is no batch to send
    import pykka

    done = Done(n)

    class Consumer(pykka.ThreadingActor):
        def __init__(self) -> None:
            super().__init__()
            self.tried: set[int] = set()

        def on_receive(self, message: Any) -> None:
            i = int(message)
            if w.failing and fails_first(i) and i not in self.tried:
                self.tried.add(i)
                self.actor_ref.tell(i)  # its retry: the actor sends it to itself again
                return
            done.hit()

    refs = [Consumer.start() for _ in range(CONSUMERS)]
    try:
        return timed(w, done, lambda i: refs[i % CONSUMERS].tell(i))
    finally:
        pykka.ActorRegistry.stop_all()


# -- Redis: Dramatiq and arq ----------------------------------------------------------------

REDIS_URL: Final = "redis://127.0.0.1:6379/0"


def dramatiq_redis(w: Workload, n: int, folder: Path) -> float | None:
    if w.batch is not None:
        return None  # each send is its own Redis command
    import dramatiq
    from dramatiq.brokers.redis import RedisBroker

    logging.disable(logging.CRITICAL)  # a failing task logs its traceback
    broker = RedisBroker(url=REDIS_URL)  # type: ignore[no-untyped-call]
    broker.flush_all()
    dramatiq.set_broker(broker)
    done = Done(n)
    tried: set[int] = set()

    def noop(i: int) -> None:
        if w.failing and fails_first(i) and i not in tried:
            tried.add(i)
            raise RuntimeError("fails once on purpose")
        done.hit()

    actor = dramatiq.actor(broker=broker, max_retries=1, min_backoff=1, max_backoff=1)(noop)
    worker = dramatiq.Worker(broker, worker_threads=CONSUMERS, worker_timeout=10)
    worker.start()
    try:
        return timed(w, done, actor.send)
    finally:
        worker.stop()
        broker.flush_all()
        broker.close()


async def _arq(w: Workload, n: int) -> float | None:
    import asyncio

    from arq import create_pool
    from arq.connections import RedisSettings
    from arq.worker import Retry, Worker, func

    redis = await create_pool(RedisSettings(host="127.0.0.1", port=6379))
    await redis.flushdb()
    done = asyncio.Event()
    count = 0

    async def noop(ctx: dict[str, Any], i: int) -> None:
        nonlocal count
        if w.failing and ctx["job_try"] == 1 and fails_first(i):
            raise Retry(defer=0)
        count += 1
        if count >= n:
            done.set()

    # max_jobs=4: four jobs at once, the four consumers; poll every 1 ms, not 500.
    worker = Worker(
        functions=[func(noop, name="noop")],
        redis_pool=redis,
        max_jobs=CONSUMERS,
        poll_delay=_IDLE,
        handle_signals=False,
        keep_result=0,
    )
    running = asyncio.create_task(worker.async_run())

    async def producer(numbers: range) -> None:
        for i in numbers:
            await redis.enqueue_job("noop", i)

    try:
        start = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for numbers in shares(n, w.async_producers):
                tg.create_task(producer(numbers))
        await asyncio.wait_for(done.wait(), TIMEOUT)
        return n / (time.perf_counter() - start)
    finally:
        # Closing cancels the worker's job tasks, and its gather lets the cancellation out.
        with contextlib.suppress(asyncio.CancelledError):
            await worker.close()
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await redis.flushdb()
        await redis.aclose()


def arq_redis(w: Workload, n: int, folder: Path) -> float | None:
    if w.batch is not None:
        return None  # enqueue_job is one job per call
    return _run(_arq(w, n))


# -- the floor and the bare interpreter ---------------------------------------------------------


def floor(w: Workload, n: int, folder: Path) -> float:
    """Raw sqlite3: insert ``n`` rows, then update each, in transactions of 1,000; rows/s."""
    conn = sqlite3.connect(folder / "floor.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE tasks (id INTEGER PRIMARY KEY, payload BLOB, state TEXT, updated_at REAL)"
        )
        payload = b"0" * 16
        start = time.perf_counter()
        for part in chunks(range(n), 1000):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO tasks VALUES (?, ?, 'ready', ?)",
                [(i, payload, time.time()) for i in part],
            )
            conn.execute("COMMIT")
        for part in chunks(range(n), 1000):
            conn.execute("BEGIN")
            conn.executemany(
                "UPDATE tasks SET state = 'done', updated_at = ? WHERE id = ?",
                [(time.time(), i) for i in part],
            )
            conn.execute("COMMIT")
        return n / (time.perf_counter() - start)
    finally:
        conn.close()


def interpreter(w: Workload, n: int, folder: Path) -> float:
    return 0.0


PEERS: Final[dict[str, Callable[[Workload, int, Path], float | None]]] = {
    "actorgrid-durable": actorgrid_durable,
    "actorgrid-memory": actorgrid_memory,
    "actorgrid-durable-pattern": actorgrid_durable_pattern,
    "huey-sqlite": huey_sqlite,
    "huey-memory": huey_memory,
    "persist-queue": persist_queue,
    "litequeue": litequeue,
    "pykka": pykka_actors,
    "dramatiq-redis": dramatiq_redis,
    "arq-redis": arq_redis,
    "floor": floor,
    "interpreter": interpreter,
}


def peak_rss_kib() -> int | None:
    """This process image's peak resident set (``VmHWM``) in KiB; None off Linux."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def run(peer: str, workload: str, n: int, folder: Path) -> float | None:
    """Run one workload on one peer in this process; tasks/s, or None if it has no such mode."""
    return PEERS[peer](WORKLOADS[workload], n, folder)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench._peers PEER WORKLOAD TASKS FOLDER``: print ``{"tasks_per_s": ...}``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 4 or args[0] not in PEERS or args[1] not in WORKLOADS:
        print(
            f"usage: python -m bench._peers {{{','.join(PEERS)}}} {{{','.join(WORKLOADS)}}}"
            " TASKS FOLDER",
            file=sys.stderr,
        )
        return 2
    rate = run(args[0], args[1], int(args[2]), Path(args[3]))
    print(json.dumps({"tasks_per_s": rate, "peak_rss_kib": peak_rss_kib()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
