"""Retry decisions in memory and through the gate actor, against a naive ORM transaction.

Figures (subjects and baselines measured in the same run):

* ``decisions_manager``: ``can_retry`` + ``record_attempt`` pairs/s through
  ``RetryPolicyManager`` on ``InMemoryRetryStore``. Baseline: ``naive per-check ORM
  transaction``: per pair, one SQLAlchemy ORM async session that selects the record, decides,
  updates (or inserts) it and commits, on a real SQLite file. Target: 1000x.
* ``decisions_ask``: the same pairs through the gate actor's ``ask`` (``CanRetry`` then
  ``RecordFailure`` or ``RecordSuccess``) from 64 concurrent callers, with the gate writing
  behind to a real SQLite file through the group-commit writer meanwhile; ``ask`` without a
  timeout (``timeout=None``). Target: 100x.
* ``decisions_ask_in_memory``: the same with a gate that has no database, for reference:
  the cost of the actor and its asks alone. With 4,096 keys cycling, nearly every pair changes
  a record that no earlier flush covered, so ``decisions_ask`` writes about one row per pair
  behind it; on two cores that write-behind takes a large share of the CPU.
* ``decisions_ask_with_timeout``: ``decisions_ask`` with ``ask``'s default 5 s timeout, for
  reference (the timeout's cancel scope is a large share of an ask's cost).
* ``write_behind_rows``: rows/s the gate flushes through the writer (``FlushGate`` with N
  dirty records: rows built, submitted and committed in one transaction), an insert pass and
  an update pass. Baseline: stdlib ``sqlite3`` ``executemany`` of the same upsert with the
  same rows, prepared as tuples beforehand, one transaction per pass. Target: 0.5x.
* ``restart_ready_seconds``: from starting a new engine, writer, kernel and gate on a file
  holding N retry records to the first answered decision for an on-disk key.
* ``memory_per_record``: bytes per record cached by the gate (key strings included),
  measured with tracemalloc. Target: at most 400.

Every rate is the best of five timed rounds, over 3 (quick) or 5 (full) runs that interleave
subjects and baselines, so a noisy neighbour hurts them alike. Sizes: quick 100,000 manager
pairs, 32,000 ask pairs, 300 naive pairs, 10,000 flushed rows per pass, 100,000 records on
disk, 20,000 records for memory; full 1,000,000, 320,000, 2,000, 100,000, 1,000,000 and
100,000.

Run: ``.venv/bin/python -m bench.retry_gate --quick`` (or ``--full``).
"""

from __future__ import annotations

import asyncio
import gc
import shutil
import sqlite3
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.sql import ClauseElement

from actorgrid import InMemoryRetryStore, RetryPolicyConfig, RetryPolicyManager, RetryRecord
from actorgrid.actors.retry import (
    RECORD_COLUMNS,
    CanRetry,
    FlushGate,
    GateStats,
    RecordFailure,
    RecordSuccess,
    RetryGate,
    RetryPolicy,
    record_to_row,
    retry_record_upsert,
)
from actorgrid.kernel import Kernel, SystemClock
from actorgrid.storage import RetryRecordRow, Writer, create_engine, migrate
from bench._common import Figure, parse_mode, report

if TYPE_CHECKING:
    from actorgrid.kernel import ActorRef

CONFIG = RetryPolicyConfig()
KEYS = 4096
CALLERS = 64
CHUNKS = 5  # each measurement keeps its best of this many timed rounds (the same for all)
ASK_TIMEOUT = 5.0  # ActorRef.ask's default
_COLUMNS = RECORD_COLUMNS


def keys(n: int, prefix: str = "entity") -> list[tuple[str, str]]:
    """Return ``n`` distinct target keys."""
    return [("entity", f"{prefix}-{i:07d}") for i in range(n)]


_TEMPLATE: dict[str, Path] = {}


def fresh_database(folder: Path, name: str) -> tuple[str, Path]:
    """Create a new database file migrated to head (a copy of one migrated once)."""
    template = _TEMPLATE.get("path")
    if template is None:
        template = _TEMPLATE["path"] = folder / "template.db"
        migrate(f"sqlite+aiosqlite:///{template}")
    path = folder / f"{name}.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}", path


# -- decisions ---------------------------------------------------------------------------


async def _manager_rate(pairs: int) -> float:
    manager = RetryPolicyManager(CONFIG, InMemoryRetryStore())
    targets = keys(KEYS)
    best = 0.0
    chunk = pairs // CHUNKS
    for c in range(CHUNKS):
        start = time.perf_counter()
        for i in range(c * chunk, (c + 1) * chunk):
            target_type, target_id = targets[i % KEYS]
            await manager.can_retry(target_type, target_id)
            await manager.record_attempt(target_type, target_id, (i // KEYS) % 2 == 1)
        best = max(best, chunk / (time.perf_counter() - start))
    return best


def manager_rate(pairs: int) -> float:
    """Pairs/s through the manager on the in-memory store."""
    return asyncio.run(_manager_rate(pairs))


async def _drive(gate: ActorRef[Any], pairs: int, timeout: float | None) -> float:
    """Run ``pairs`` decision pairs from CALLERS callers, in CHUNKS timed rounds; best pairs/s."""
    per_caller = pairs // CALLERS // CHUNKS

    async def caller(targets: list[tuple[str, str]]) -> None:
        n = len(targets)
        for i in range(per_caller):
            target_type, target_id = targets[i % n]
            await gate.ask(CanRetry(target_type, target_id), timeout=timeout)
            if (i // n) % 2:
                await gate.ask(RecordSuccess(target_type, target_id), timeout=timeout)
            else:
                await gate.ask(RecordFailure(target_type, target_id), timeout=timeout)

    groups = [keys(KEYS // CALLERS, f"caller{c}") for c in range(CALLERS)]
    best = 0.0
    for _ in range(CHUNKS):
        start = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for targets in groups:
                tg.create_task(caller(targets))
        best = max(best, per_caller * CALLERS / (time.perf_counter() - start))
    return best


async def _ask_rate(url: str | None, pairs: int, timeout: float | None) -> float:
    if url is None:
        async with Kernel() as kernel:
            gate = await kernel.spawn(
                lambda: RetryGate(CONFIG, engine=None, writer=None), name="retry-gate"
            )
            return await _drive(gate, pairs, timeout)
    engine = create_engine(url)
    try:
        async with Writer(engine) as writer, Kernel() as kernel:
            gate = await kernel.spawn(
                lambda: RetryGate(CONFIG, engine=engine, writer=writer), name="retry-gate"
            )
            rate = await _drive(gate, pairs, timeout)
            await gate.ask(FlushGate(), timeout=None)
            stats = await gate.ask(GateStats())
            if stats.write_errors or stats.rows_flushed == 0:
                raise RuntimeError(f"the gate did not write behind as expected: {stats}")
    finally:
        await engine.dispose()
    return rate


def ask_rate(folder: Path | None, pairs: int, timeout: float | None) -> float:
    """Pairs/s through the gate's ask, writing behind to a file (or purely in memory)."""
    url = None if folder is None else fresh_database(folder, "ask")[0]
    return asyncio.run(_ask_rate(url, pairs, timeout))


async def _naive_rate(url: str, pairs: int) -> float:
    engine = create_engine(url)
    session_factory = async_sessionmaker(engine, expire_on_commit=False)
    policy = RetryPolicy(CONFIG)
    clock = SystemClock()
    targets = keys(min(KEYS, pairs))
    n = len(targets)
    best = 0.0
    chunk = pairs // CHUNKS
    try:
        for i in range(pairs):
            if i % chunk == 0:
                start = time.perf_counter()
            target_type, target_id = targets[i % n]
            async with session_factory() as session:
                row = await session.scalar(
                    select(RetryRecordRow).where(
                        RetryRecordRow.target_type == target_type,
                        RetryRecordRow.target_id == target_id,
                    )
                )
                now = clock.now()
                record = RetryRecord(target_type, target_id)
                if row is not None:
                    record.attempt_count = row.attempt_count
                    record.last_attempt_at = row.last_attempt_at
                    record.next_allowed_at = row.next_allowed_at
                    record.version = row.version
                    if row.policy_snapshot is not None:
                        record.policy = RetryPolicyConfig.from_builtins(row.policy_snapshot)
                policy.decide(record, now)
                policy.record_attempt(record, now, (i // n) % 2 == 1)
                if row is None:
                    row = RetryRecordRow()
                    session.add(row)
                for name, value in record_to_row(record, now).items():
                    setattr(row, name, value)
                await session.commit()
            if (i + 1) % chunk == 0:
                best = max(best, chunk / (time.perf_counter() - start))
    finally:
        await engine.dispose()
    return best


def naive_rate(folder: Path, pairs: int) -> float:
    """Pairs/s with one ORM session (select, update or insert, commit) per pair."""
    url, _ = fresh_database(folder, "naive")
    return asyncio.run(_naive_rate(url, pairs))


# -- write-behind ------------------------------------------------------------------------


async def _flush_rate(url: str, rows: int) -> float:
    engine = create_engine(url)
    targets = keys(rows)
    elapsed = 0.0
    try:
        async with Writer(engine) as writer, Kernel() as kernel:
            gate = await kernel.spawn(
                lambda: RetryGate(
                    CONFIG,
                    engine=engine,
                    writer=writer,
                    flush_interval=3600.0,
                    flush_rows=rows + 1,
                    max_cached=rows + 1,
                ),
                name="retry-gate",
            )
            for message_type in (RecordFailure, RecordSuccess):  # an insert, then an update pass
                for target in targets:
                    await gate.ask(message_type(*target), timeout=None)
                gc.collect()
                start = time.perf_counter()
                await gate.ask(FlushGate(), timeout=None)
                elapsed += time.perf_counter() - start
            stats = await gate.ask(GateStats())
            if stats.rows_flushed != 2 * rows or stats.write_errors:
                raise RuntimeError(f"the gate did not flush every row: {stats}")
    finally:
        await engine.dispose()
    return 2 * rows / elapsed


def flush_rate(folder: Path, rows: int) -> float:
    """Rows/s of the gate's write-behind flush (build, submit, commit)."""
    url, _ = fresh_database(folder, "gate")
    return asyncio.run(_flush_rate(url, rows))


def raw_rows(n: int, version: int) -> list[tuple[Any, ...]]:
    """Retry-record rows as the gate writes them, as tuples in column order."""
    policy = RetryPolicy(CONFIG)
    encode = msgspec.json.Encoder().encode
    out: list[tuple[Any, ...]] = []
    for target_type, target_id in keys(n):
        record = RetryRecord(target_type, target_id)
        now = 1_767_225_600.0
        for v in range(version):
            policy.record_attempt(record, now, success=v == 1)
        row = record_to_row(record, now)
        snapshot = row["policy_snapshot"]
        row["policy_snapshot"] = None if snapshot is None else encode(snapshot).decode()
        out.append(tuple(row[c] for c in _COLUMNS))
    return out


def raw_sqlite_rate(folder: Path, passes: list[list[tuple[Any, ...]]]) -> float:
    """Rows/s of stdlib sqlite3 executemany of the same upsert, one transaction per pass."""
    _, path = fresh_database(folder, "raw")
    dialect = create_engine(f"sqlite+aiosqlite:///{path}").dialect
    upsert = retry_record_upsert("sqlite")
    assert isinstance(upsert, ClauseElement)
    sql = str(upsert.compile(dialect=dialect, column_keys=list(_COLUMNS)))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    total = sum(len(rows) for rows in passes)
    start = time.perf_counter()
    for rows in passes:
        conn.executemany(sql, rows)
        conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return total / elapsed


# -- restart and memory ------------------------------------------------------------------


def populated_database(folder: Path, n: int) -> tuple[str, tuple[str, str]]:
    """Create a migrated file holding ``n`` retry records (raw executemany); return a key."""
    url, path = fresh_database(folder, "restart")
    sql = (
        "INSERT INTO retry_records (target_type, target_id, attempt_count, early_retry_used,"
        " last_attempt_at, next_allowed_at, policy_snapshot, version, updated_at)"
        " VALUES ('entity', ?, 1, 0, ?, ?, ?, 1, ?)"
    )
    snapshot = msgspec.json.encode(CONFIG).decode()
    now = time.time()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    batch = 100_000
    for lo in range(0, n, batch):
        conn.executemany(
            sql,
            (
                (f"entity-{i:08d}", now, now + 1800.0, snapshot, now)
                for i in range(lo, min(n, lo + batch))
            ),
        )
        conn.commit()
    conn.close()
    return url, ("entity", f"entity-{n // 2:08d}")


async def _restart_seconds(url: str, key: tuple[str, str]) -> float:
    start = time.perf_counter()
    engine = create_engine(url)
    try:
        async with Writer(engine) as writer, Kernel() as kernel:
            gate = await kernel.spawn(
                lambda: RetryGate(CONFIG, engine=engine, writer=writer), name="retry-gate"
            )
            decision = await gate.ask(CanRetry(*key))
            ready = time.perf_counter() - start
            if decision.allowed or decision.attempt != 2:
                raise RuntimeError(f"the on-disk record was not used: {decision}")
    finally:
        await engine.dispose()
    return ready


def restart_seconds(folder: Path, n: int, runs: int) -> float:
    """Best time from a cold start to the first decision on a file of ``n`` records."""
    url, key = populated_database(folder, n)
    return min(asyncio.run(_restart_seconds(url, key)) for _ in range(runs))


async def _memory_per_record(n: int) -> float:
    async with Kernel() as kernel:
        gate = await kernel.spawn(
            lambda: RetryGate(CONFIG, engine=None, writer=None, max_cached=n + 1), name="g"
        )
        await gate.ask(RecordFailure("entity", "warm-up"))
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(n):
                await gate.ask(RecordFailure("entity", f"entity-{i:07d}"), timeout=None)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        if (await gate.ask(GateStats())).cached != n + 1:
            raise RuntimeError("the gate did not keep every record")
    return (after - before) / n


def memory_per_record(n: int) -> float:
    """Bytes of traced memory per record cached in the gate."""
    return asyncio.run(_memory_per_record(n))


def main() -> None:
    """Measure, print the table and write ``bench/results/retry_gate.json``."""
    mode = parse_mode(__doc__ or "retry gate benchmark")
    quick = mode == "quick"
    manager_pairs, ask_pairs, naive_pairs = (
        (100_000, 32_000, 300) if quick else (1_000_000, 320_000, 2_000)
    )
    flush_rows, restart_records, memory_records = (
        (10_000, 100_000, 20_000) if quick else (100_000, 1_000_000, 100_000)
    )
    runs = 3 if quick else 5
    with tempfile.TemporaryDirectory(prefix="actorgrid-bench-") as tmp:
        root = Path(tmp)

        def folder(name: str) -> Path:
            path = root / f"{name}-{time.monotonic_ns()}"
            path.mkdir()
            return path

        names = ("naive", "manager", "ask", "ask_memory", "ask_timeout", "flush", "raw")
        best = dict.fromkeys(names, 0.0)
        raw_passes = [raw_rows(flush_rows, 1), raw_rows(flush_rows, 2)]
        for _ in range(runs):
            # Interleaved so that a noisy neighbour hurts subjects and baselines alike.
            best["naive"] = max(best["naive"], naive_rate(folder("naive"), naive_pairs))
            best["manager"] = max(best["manager"], manager_rate(manager_pairs))
            best["ask"] = max(best["ask"], ask_rate(folder("ask"), ask_pairs, None))
            best["ask_memory"] = max(best["ask_memory"], ask_rate(None, ask_pairs, None))
            best["ask_timeout"] = max(
                best["ask_timeout"], ask_rate(folder("ask"), ask_pairs // 2, ASK_TIMEOUT)
            )
            best["flush"] = max(best["flush"], flush_rate(folder("flush"), flush_rows))
            gc.collect()
            best["raw"] = max(best["raw"], raw_sqlite_rate(folder("raw"), raw_passes))
        ready = restart_seconds(folder("restart"), restart_records, runs)
    memory = memory_per_record(memory_records)
    naive = "naive per-check ORM transaction"
    figures = [
        Figure("decisions_manager", "pairs/s", round(best["manager"]), naive,
               round(best["naive"], 1), target_ratio=1000),
        Figure("decisions_ask", "pairs/s", round(best["ask"]), naive,
               round(best["naive"], 1), target_ratio=100),
        Figure("decisions_ask_in_memory", "pairs/s", round(best["ask_memory"]), naive,
               round(best["naive"], 1)),
        Figure("decisions_ask_with_timeout", "pairs/s", round(best["ask_timeout"]), naive,
               round(best["naive"], 1)),
        Figure("write_behind_rows", "rows/s", round(best["flush"]), "raw sqlite3 executemany",
               round(best["raw"]), target_ratio=0.5),
        Figure("restart_ready_seconds", "s", round(ready, 4)),
        Figure("memory_per_record", "bytes", round(memory, 1), target=400.0,
               target_direction="max"),
    ]  # fmt: skip
    report("retry_gate", mode, figures)


if __name__ == "__main__":
    main()
