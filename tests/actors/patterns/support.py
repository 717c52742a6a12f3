"""A pattern engine under test: a real kernel on a fake clock, a real SQLite file and writer
(or memory only), a small runbook corpus, and helpers to note failures and outcomes."""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from actorgrid import ChunkInput, PatternSettings, PatternStatistics, RecurringPattern, Reference
from actorgrid.actors.patterns import (
    AddChunks,
    FailureContext,
    FlushPattern,
    NoteFailure,
    NoteOutcome,
    PatternEngine,
    PatternStats,
    RecurringPatterns,
    SearchChunks,
)
from actorgrid.kernel import ActorRef, FakeClock, Kernel, KernelConfig
from actorgrid.kernel.testing import settle
from actorgrid.storage import Writer, create_engine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from actorgrid import Embedder
    from actorgrid.actors.patterns import PatternCounters

MINUTE = 60.0

RUNBOOKS: dict[str, str] = {
    "runbooks/sqlite-locked.md": (
        "sqlite3.OperationalError: database is locked\n"
        "Another connection holds the write lock. Use WAL mode, a busy timeout of a few "
        "seconds, and route all writes through one writer."
    ),
    "runbooks/rate-limit.md": (
        "HTTPError: 429 Too Many Requests\n"
        "The API quota for this client is exhausted. Honour the Retry-After header and "
        "spread retries with jitter."
    ),
    "runbooks/credentials.md": (
        "HTTPError: 401 Unauthorized (invalid credentials)\n"
        "The API key is wrong, expired or revoked; rotate it in the secret store and redeploy."
    ),
    "runbooks/disk-full.md": (
        "OSError: [Errno 28] No space left on device\n"
        "Free space by rotating logs and removing old artifacts; check inode usage."
    ),
    "runbooks/upstream-timeout.md": (
        "TimeoutError: upstream request timed out\n"
        "Check the upstream service's latency dashboard and retry with backoff; raise the "
        "client timeout only if the service is healthy."
    ),
}
"""Runbook chunks, each opening with the error it is about."""

LOCKED = "OperationalError: database is locked (while saving order {})"
"""A failure text; the order number (five digits) differs between occurrences."""
TIMEOUT = "TimeoutError: upstream request timed out after 30 s"
UNRELATED = "KeyError: 'customer_id'"


def runbook_chunks() -> tuple[ChunkInput, ...]:
    """The runbook corpus as chunks, with a ``kind`` metadata key."""
    return tuple(
        ChunkInput(source, text, {"kind": "runbook", "topic": source.split("/")[1][:-3]})
        for source, text in RUNBOOKS.items()
    )


def context(
    target_id: str,
    attempt: int,
    text: str | None,
    *,
    message_id: str | None = None,
    topic: str = "jobs",
    error_type: str | None = None,
) -> FailureContext:
    """A failure context for target ``entity:<target_id>``."""
    return FailureContext(
        topic=topic,
        target_type="entity",
        target_id=target_id,
        message_id=message_id or f"msg-{target_id}",
        attempt=attempt,
        error_type=error_type if error_type is not None else (text or "").split(":")[0] or None,
        error_message=text,
    )


@dataclass
class EngineHarness:
    """A running pattern engine and what it runs on."""

    ref: ActorRef[Any]
    clock: FakeClock
    db_path: Path | None

    async def ask(self, message: object, timeout: float = 30.0) -> Any:
        """Ask the engine."""
        return await self.ref.ask(message, timeout=timeout)

    async def add_runbooks(self) -> tuple[int, ...]:
        """Add the runbook corpus; return the ids."""
        ids: tuple[int, ...] = await self.ask(AddChunks(runbook_chunks()))
        return ids

    async def search(self, query: str, **options: Any) -> tuple[Reference, ...]:
        """Search chunks."""
        found: tuple[Reference, ...] = await self.ask(SearchChunks(query, **options))
        return found

    async def fail(self, target_id: str, attempt: int, text: str | None, **options: Any) -> None:
        """Tell the engine about a failure, as the broker does, and let it take the note."""
        self.ref.tell_nowait(NoteFailure(context(target_id, attempt, text, **options)))
        await settle()

    async def outcome(self, target_id: str, outcome: str) -> None:
        """Tell the engine how a target's failures ended, as the broker does."""
        self.ref.tell_nowait(NoteOutcome("entity", target_id, outcome))
        await settle()

    async def flush(self) -> None:
        """Index buffered failures and wait for the engine's writes."""
        await self.ask(FlushPattern())

    async def stats(self) -> PatternStatistics:
        """The engine's statistics."""
        stats: PatternStatistics = await self.ask(PatternStats())
        return stats

    async def patterns(self) -> tuple[RecurringPattern, ...]:
        """The recurring patterns."""
        found: tuple[RecurringPattern, ...] = await self.ask(RecurringPatterns())
        return found

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the database file with plain sqlite3."""
        assert self.db_path is not None
        with contextlib.closing(sqlite3.connect(self.db_path)) as conn:
            return conn.execute(sql, args).fetchall()


@contextlib.asynccontextmanager
async def running_engine(
    db_path: Path | None,
    clock: FakeClock,
    settings: PatternSettings | None = None,
    *,
    embedder: Embedder | None = None,
    index_path: Path | None = None,
    counters: PatternCounters | None = None,
) -> AsyncIterator[EngineHarness]:
    """Run a pattern engine in a fresh kernel (and engine and writer, unless memory only).

    The index file goes beside the database (``<db>.hnsw``) unless ``index_path`` is given.
    """
    if db_path is None:
        async with Kernel(KernelConfig(strict_messages=True), clock=clock) as kernel:
            ref: ActorRef[Any] = await kernel.spawn(
                lambda: PatternEngine(settings, embedder=embedder, counters=counters),
                name="pattern-engine",
            )
            yield EngineHarness(ref, clock, None)
        return
    path = index_path or db_path.with_name(db_path.name + ".hnsw")
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
    try:
        async with (
            Writer(engine) as writer,
            Kernel(KernelConfig(strict_messages=True), clock=clock) as kernel,
        ):
            ref = await kernel.spawn(
                lambda: PatternEngine(
                    settings,
                    engine=engine,
                    writer=writer,
                    index_path=path,
                    embedder=embedder,
                    counters=counters,
                ),
                name="pattern-engine",
            )
            yield EngineHarness(ref, clock, db_path)
    finally:
        await engine.dispose()
