"""The pattern engine as a retry meets it: start on a saved corpus, then glimpse end to end.

The benchmark's index and corpus are written out as a real SQLite database (migrated, the
chunks in ``reference_chunks``) with the index file beside it, and a :class:`PatternEngine`
is started on them in a kernel, as the runtime starts it after a restart: it reads every
row and loads the saved index instead of re-embedding. Each glimpse then goes the way a
worker sends it before an explicit early retry: a :class:`FailureContext` asked of the
engine actor (a worker-thread hop that embeds the error text and searches), and the
references attached to the handler's :class:`DeliveryContext`.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from actorgrid import DeliveryContext
from actorgrid.actors._delivery import Delivery
from actorgrid.actors.patterns import FailureContext, Glimpse, PatternEngine, PatternStats
from actorgrid.kernel import Kernel
from actorgrid.storage import Writer, create_engine, migrate
from bench._common import Figure

if TYPE_CHECKING:
    from actorgrid import HashingEmbedder, PatternSettings
    from actorgrid.actors.patterns.index import VectorIndex

__all__ = ("engine_figures",)


def _write_database(db: Path, texts: list[str], embedder: HashingEmbedder) -> None:
    url = f"sqlite+aiosqlite:///{db}"
    migrate(url)
    now = time.time()
    meta = json.dumps({"kind": "runbook"})
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.executemany(
            "INSERT INTO reference_chunks (id, source, text, metadata, embedder, dim, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                (i, "runbook", text, meta, embedder.name, embedder.dim, now)
                for i, text in enumerate(texts)
            ),
        )


def _percentile(sorted_ms: list[float], share: float) -> float:
    return round(sorted_ms[int(share * (len(sorted_ms) - 1))], 4)


async def _measure(
    db: Path,
    settings: PatternSettings,
    embedder: HashingEmbedder,
    queries: list[str],
    expected: int,
) -> tuple[float, list[float], int]:
    """Return (seconds to start the engine, glimpse ms each, glimpses with a reference)."""
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    try:
        async with Writer(engine) as writer, Kernel() as kernel:
            start = time.perf_counter()
            ref: Any = await kernel.spawn(
                lambda: PatternEngine(
                    settings,
                    engine=engine,
                    writer=writer,
                    index_path=db.with_name(db.name + ".hnsw"),
                    embedder=embedder,
                ),
                name="pattern-engine",
            )
            stats = await ref.ask(PatternStats(), timeout=600)
            started = time.perf_counter() - start
            if stats.references != expected or stats.rebuilds:
                raise AssertionError(f"engine did not load the saved index: {stats}")
            delivery = Delivery(
                id="m-1",
                topic="orders",
                target_type="job",
                target_id="j-1",
                payload=b"",
                headers={},
                created_at=0.0,
                durable=False,
                attempts=1,
                early=True,
                phase="base",
            )
            times: list[float] = []
            found = 0
            for i, text in enumerate(queries):
                t0 = time.perf_counter()
                context = FailureContext(
                    topic="orders",
                    target_type="job",
                    target_id=f"j-{i}",
                    message_id=f"m-{i}",
                    attempt=2,
                    error_type="RuntimeError",
                    error_message=text,
                )
                refs = tuple(await ref.ask(Glimpse(context), timeout=30))
                ctx = DeliveryContext(delivery, refs, None)
                times.append((time.perf_counter() - t0) * 1000.0)
                found += bool(ctx.references)
            return started, sorted(times), found
    finally:
        await engine.dispose()


def engine_figures(
    index: VectorIndex,
    texts: list[str],
    queries: list[str],
    embedder: HashingEmbedder,
    settings: PatternSettings,
    label: str,
) -> list[Figure]:
    """Start an engine on ``index`` and ``texts`` saved to disk; glimpse each query.

    ``embedder`` made the index's vectors; its IDF weights, if any, are saved beside the
    index as the engine saves them, and the rows carry its unweighted name.
    """
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        _write_database(db, texts, embedder.unweighted())
        index.save(db.with_name(db.name + ".hnsw"))
        if embedder.idf is not None:
            embedder.idf.save(db.with_name(db.name + ".hnsw.idf.npz"))
        started, times, found = anyio.run(
            _measure, db, settings, embedder, queries, len(texts), backend="asyncio"
        )
    print(
        f"\nengine start on {len(texts)} saved chunks: {started:.2f} s; "
        f"glimpse end to end p50 {statistics.median(times):.3f} ms, "
        f"{found}/{len(queries)} attached a reference"
    )
    return [
        Figure("engine_start" + label, "s", round(started, 3)),
        Figure("glimpse_end_to_end_p50" + label, "ms", round(statistics.median(times), 4)),
        Figure("glimpse_end_to_end_p99" + label, "ms", _percentile(times, 0.99)),
    ]
