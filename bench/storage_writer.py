r"""Group-commit writer throughput against raw sqlite3, measured side by side in one run.

Figures:

* ``write_behind_rows``: retry_records-shaped rows upserted through ``Writer`` in 1,000-row
  batches (one ``submit`` of 1,000 ``Op``\ s, as the retry gate writes behind), from building
  the first ``Op`` until ``flush()`` returns. Baseline: the same upserts with the stdlib
  ``sqlite3`` module's ``executemany`` in 1,000-row transactions, rows prepared as tuples
  beforehand (the fastest Python can write them). Target: at least half of it.
* ``write_behind_rows_single_submits``: the same rows with one ``submit`` per row (as the
  broker submits state changes), for reference.
* ``write_behind_rows_vs_core``: ``write_behind_rows`` against SQLAlchemy Core
  ``connection.execute(statement, rows)`` in 1,000-row transactions.
* ``per_message_commit``: one SQLAlchemy transaction per row, for reference.
* ``lone_write_latency``: median time for one ``write()`` on an idle writer.

Each measurement uses a fresh database file (migrated to head) and writes every key twice:
an insert pass, then an update pass with a newer version.

Run: ``.venv/bin/python -m bench.storage_writer --quick`` (or ``--full``).
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
import msgspec

from actorgrid.actors.retry import RECORD_COLUMNS, retry_record_upsert
from actorgrid.storage import Op, Writer, create_engine, migrate
from bench._common import Figure, parse_mode, report

BATCH = 1000
_POLICY = {"base_wait": 1800.0, "base_retries": 2, "early_wait": 1200.0, "max_retries": 5}


def make_rows(n: int, version: int) -> list[dict[str, Any]]:
    """Return ``n`` retry-record rows for keys ``entity-0`` ... with ``version``."""
    return [
        {
            "target_type": "entity",
            "target_id": f"entity-{i}",
            "attempt_count": version,
            "early_retry_used": False,
            "last_attempt_at": 1_700_000_000.0 + i,
            "last_success_at": None,
            "next_allowed_at": 1_700_001_800.0 + i,
            "last_explicit_early_granted_at": None,
            "policy_snapshot": _POLICY,
            "version": version,
            "updated_at": 1_700_000_000.0 + i,
        }
        for i in range(n)
    ]


def fresh_database(folder: Path, name: str) -> tuple[str, Path]:
    """Create and migrate a new database file; return its URL and path."""
    path = folder / f"{name}.db"
    url = f"sqlite+aiosqlite:///{path}"
    migrate(url)
    return url, path


def raw_sqlite_rate(folder: Path, passes: list[list[dict[str, Any]]]) -> float:
    """Rows/s of stdlib sqlite3 executemany, 1,000-row transactions, tuples prepared ahead."""
    _, path = fresh_database(folder, "raw")
    dialect = create_engine(f"sqlite+aiosqlite:///{path}").dialect
    upsert: Any = retry_record_upsert("sqlite")
    sql = str(upsert.compile(dialect=dialect, column_keys=list(RECORD_COLUMNS)))
    encode = msgspec.json.Encoder().encode
    prepared = [
        [
            tuple(encode(r[c]).decode() if c == "policy_snapshot" else r[c] for c in RECORD_COLUMNS)
            for r in rows
        ]
        for rows in passes
    ]
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    total = sum(len(rows) for rows in prepared)
    start = time.perf_counter()
    for rows in prepared:
        for i in range(0, len(rows), BATCH):
            conn.executemany(sql, rows[i : i + BATCH])
            conn.commit()
    elapsed = time.perf_counter() - start
    conn.close()
    return total / elapsed


async def _writer_rate(url: str, passes: list[list[dict[str, Any]]], *, per_row: bool) -> float:
    engine = create_engine(url)
    stmt = retry_record_upsert("sqlite")
    total = sum(len(rows) for rows in passes)
    try:
        async with Writer(engine, max_batch_ops=BATCH) as writer:
            await writer.write(Op(stmt, passes[0][0]))  # connect and compile outside the clock
            start = time.perf_counter()
            for rows in passes:
                for i in range(0, len(rows), BATCH):
                    if per_row:
                        for row in rows[i : i + BATCH]:
                            writer.submit(Op(stmt, row))
                    else:
                        writer.submit(*[Op(stmt, row) for row in rows[i : i + BATCH]])
                    await anyio.lowlevel.checkpoint()
            await writer.flush()
            elapsed = time.perf_counter() - start
            stats = writer.statistics()
            if stats.rejected or stats.pending_ops:
                raise RuntimeError(f"the writer did not commit every row: {stats}")
    finally:
        await engine.dispose()
    return total / elapsed


def writer_rate(folder: Path, passes: list[list[dict[str, Any]]]) -> float:
    """Rows/s through ``Writer``: one submit per 1,000 rows, until flushed."""
    url, _ = fresh_database(folder, "writer")
    return asyncio.run(_writer_rate(url, passes, per_row=False))


def writer_single_rate(folder: Path, passes: list[list[dict[str, Any]]]) -> float:
    """Rows/s through ``Writer``: one submit per row, 1,000-op transactions, until flushed."""
    url, _ = fresh_database(folder, "writer_single")
    return asyncio.run(_writer_rate(url, passes, per_row=True))


async def _core_rate(url: str, passes: list[list[dict[str, Any]]]) -> float:
    engine = create_engine(url)
    stmt = retry_record_upsert("sqlite")
    total = sum(len(rows) for rows in passes)
    try:
        async with engine.connect() as conn:
            start = time.perf_counter()
            for rows in passes:
                for i in range(0, len(rows), BATCH):
                    await conn.execute(stmt, rows[i : i + BATCH])
                    await conn.commit()
            elapsed = time.perf_counter() - start
    finally:
        await engine.dispose()
    return total / elapsed


def core_rate(folder: Path, passes: list[list[dict[str, Any]]]) -> float:
    """Rows/s of SQLAlchemy Core executemany in 1,000-row transactions."""
    url, _ = fresh_database(folder, "core")
    return asyncio.run(_core_rate(url, passes))


async def _per_message_rate(url: str, rows: list[dict[str, Any]]) -> float:
    engine = create_engine(url)
    stmt = retry_record_upsert("sqlite")
    try:
        start = time.perf_counter()
        for row in rows:
            async with engine.begin() as conn:
                await conn.execute(stmt, row)
        elapsed = time.perf_counter() - start
    finally:
        await engine.dispose()
    return len(rows) / elapsed


def per_message_rate(folder: Path, rows: list[dict[str, Any]]) -> float:
    """Rows/s with one SQLAlchemy transaction (and commit) per row."""
    url, _ = fresh_database(folder, "per_message")
    return asyncio.run(_per_message_rate(url, rows))


async def _lone_latency(url: str, samples: int) -> float:
    engine = create_engine(url)
    stmt = retry_record_upsert("sqlite")
    rows = make_rows(samples, 1)
    times: list[float] = []
    try:
        async with Writer(engine) as writer:
            await writer.write(Op(stmt, rows[0]))
            for row in rows:
                start = time.perf_counter()
                await writer.write(Op(stmt, {**row, "version": 2}))
                times.append(time.perf_counter() - start)
    finally:
        await engine.dispose()
    return statistics.median(times)


def lone_latency(folder: Path, samples: int) -> float:
    """Median seconds for one ``write()`` on an otherwise idle writer."""
    url, _ = fresh_database(folder, "latency")
    return asyncio.run(_lone_latency(url, samples))


def main() -> None:
    """Measure, print the table and write ``bench/results/storage_writer.json``."""
    mode = parse_mode(__doc__ or "storage writer benchmark")
    rows_per_pass, runs, single_rows, samples = (
        (20_000, 3, 300, 100) if mode == "quick" else (100_000, 5, 2_000, 500)
    )
    passes = [make_rows(rows_per_pass, 1), make_rows(rows_per_pass, 2)]
    subjects = (
        ("raw", raw_sqlite_rate),
        ("writer", writer_rate),
        ("single", writer_single_rate),
        ("core", core_rate),
    )
    best = dict.fromkeys((name for name, _ in subjects), 0.0)
    with tempfile.TemporaryDirectory(prefix="actorgrid-bench-") as tmp:
        for run in range(runs):
            # Interleaved so that a noisy neighbour hurts subject and baselines alike.
            for name, fn in subjects:
                folder = Path(tmp) / f"{name}-{run}"
                folder.mkdir()
                gc.collect()
                best[name] = max(best[name], fn(folder, passes))
        (Path(tmp) / "single").mkdir()
        per_message = per_message_rate(Path(tmp) / "single", passes[0][:single_rows])
        (Path(tmp) / "latency").mkdir()
        latency = lone_latency(Path(tmp) / "latency", samples)
    figures = [
        Figure(
            metric="write_behind_rows",
            unit="rows/s",
            value=round(best["writer"]),
            baseline="raw sqlite3 executemany",
            baseline_value=round(best["raw"]),
            target_ratio=0.5,
        ),
        Figure(
            metric="write_behind_rows_single_submits",
            unit="rows/s",
            value=round(best["single"]),
            baseline="raw sqlite3 executemany",
            baseline_value=round(best["raw"]),
        ),
        Figure(
            metric="write_behind_rows_vs_core",
            unit="rows/s",
            value=round(best["writer"]),
            baseline="SQLAlchemy Core executemany",
            baseline_value=round(best["core"]),
        ),
        Figure(metric="per_message_commit", unit="rows/s", value=round(per_message)),
        Figure(
            metric="lone_write_latency",
            unit="ms",
            value=round(latency * 1000, 3),
            target=10.0,
            target_direction="max",
        ),
    ]
    report("storage_writer", mode, figures)


if __name__ == "__main__":
    main()
