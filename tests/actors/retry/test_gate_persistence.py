"""The retry gate on a real SQLite file: write-behind, loads, negative cache, restarts."""

from __future__ import annotations

import sqlite3
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest

from actorgrid import RetryPolicyConfig, RetryRecord
from actorgrid.actors.retry import (
    CanRetry,
    FailureOutcome,
    FlushGate,
    GateStats,
    GetRecord,
    RecordFailure,
    RecordSuccess,
    ResetTarget,
    RetryGate,
    RetryGateStatistics,
    Submitted,
    retry_record_upsert,
)
from actorgrid.kernel import ActorRef, FakeClock, Kernel, KernelConfig
from actorgrid.kernel.testing import settle, wait_until
from actorgrid.storage import Op, Writer, WriterClosed, WriteRejected, create_engine

from ..common import KEY, MIN, T0

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

CONFIG = RetryPolicyConfig()
SLOW = 3600.0  # a flush interval the fake clock never reaches unless a test advances it


@asynccontextmanager
async def running_gate(
    db_path: Path,
    clock: FakeClock,
    config: RetryPolicyConfig = CONFIG,
    *,
    busy_timeout_ms: int = 5000,
    **options: Any,
) -> AsyncIterator[tuple[ActorRef[Any], Writer]]:
    """Run a gate on ``db_path`` in a fresh kernel, engine and writer (a process lifetime)."""
    options.setdefault("flush_interval", SLOW)
    engine = create_engine(f"sqlite+aiosqlite:///{db_path}", busy_timeout_ms=busy_timeout_ms)
    try:
        async with (
            Writer(engine, retry_initial=0.01, retry_max=0.05) as writer,
            Kernel(KernelConfig(strict_messages=True), clock=clock) as kernel,
        ):
            gate: ActorRef[Any] = await kernel.spawn(
                lambda: RetryGate(config, engine=engine, writer=writer, **options),
                name="retry-gate",
            )
            yield gate, writer
    finally:
        await engine.dispose()


def at(clock: FakeClock, minutes: float) -> None:
    """Move the fake clock to ``minutes`` after T0."""
    clock.set(T0 + minutes * MIN)


async def stats(gate: ActorRef[Any]) -> RetryGateStatistics:
    result: RetryGateStatistics = await gate.ask(GateStats())
    return result


def rows(db_path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Read every retry record straight from the file with the stdlib sqlite3 module."""
    conn = sqlite3.connect(db_path)
    conn.row_factory = sqlite3.Row
    try:
        found = conn.execute("SELECT * FROM retry_records").fetchall()
    finally:
        conn.close()
    return {(r["target_type"], r["target_id"]): dict(r) for r in found}


def seed(db_path: Path, *keys: tuple[str, str], attempts: int = 1, version: int = 1) -> None:
    """Insert records straight into the file, as a previous process would have left them."""
    conn = sqlite3.connect(db_path)
    with conn:
        conn.executemany(
            "INSERT INTO retry_records (target_type, target_id, attempt_count, early_retry_used,"
            " last_attempt_at, next_allowed_at, version, updated_at)"
            " VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
            [(t, i, attempts, T0, T0 + 30 * MIN, version, T0) for t, i in keys],
        )
    conn.close()


class TestWriteBehind:
    """Changes reach the file through the writer, never on the decision path."""

    async def test_flush_gate_commits_to_the_file(self, db_path: Path, clock: FakeClock) -> None:
        """Nothing is written before the flush; after FlushGate the row is in the file."""
        async with running_gate(db_path, clock) as (gate, _):
            outcome: FailureOutcome = await gate.ask(RecordFailure(*KEY))
            at(clock, 20)
            assert (await gate.ask(CanRetry(*KEY, explicit=True))).early
            assert rows(db_path) == {}
            assert (await stats(gate)).dirty == 1
            assert await gate.ask(FlushGate()) is None
            row = rows(db_path)[KEY]
            assert (row["attempt_count"], row["early_retry_used"], row["version"]) == (1, 1, 2)
            assert row["last_explicit_early_granted_at"] == T0 + 20 * MIN
            assert row["next_allowed_at"] == outcome.row["next_allowed_at"]
            assert (await stats(gate)).dirty == 0

    async def test_the_timer_flushes_every_interval(self, db_path: Path, clock: FakeClock) -> None:
        """When flush_interval passes on the gate's clock, dirty records are written."""
        async with running_gate(db_path, clock, flush_interval=0.05) as (gate, writer):
            await gate.ask(RecordFailure(*KEY))
            assert (await stats(gate)).flushes == 0
            clock.advance(0.05)
            await wait_until(lambda: writer.statistics().ops_committed == 1)
            assert rows(db_path)[KEY]["attempt_count"] == 1

    async def test_a_caller_written_change_waits_for_submitted(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """With caller_writes the gate writes nothing of the record until Submitted arrives."""
        async with running_gate(db_path, clock, flush_interval=0.05) as (gate, writer):
            outcome: FailureOutcome = await gate.ask(RecordFailure(*KEY, caller_writes=True))
            await gate.ask(RecordFailure("entity", "mine"))
            for committed in (1, 1):
                clock.advance(0.05)
                await wait_until(lambda n=committed: writer.statistics().ops_committed == n)
                await settle()
            assert set(rows(db_path)) == {("entity", "mine")}  # held for two intervals
            await writer.write(Op(retry_record_upsert("sqlite"), outcome.row))  # the caller's
            gate.tell_nowait(Submitted(*KEY))
            clock.advance(0.05)
            await wait_until(lambda: writer.statistics().ops_committed == 3)
            assert rows(db_path)[KEY]["attempt_count"] == 1
            await gate.ask(RecordSuccess(*KEY, caller_writes=True))
            await gate.ask(FlushGate())  # a forced flush writes held changes too
            assert rows(db_path)[KEY]["attempt_count"] == 0

    async def test_an_early_retry_can_be_asked_with_the_failure(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """RecordFailure(explicit=True) answers the early retry in the same reply."""
        async with running_gate(db_path, clock) as (gate, _):
            first: FailureOutcome = await gate.ask(RecordFailure(*KEY, explicit=True))
            assert first.early is not None
            assert not first.early.allowed
            assert first.early.retry_after == T0 + 20 * MIN
            assert first.decision.retry_after == T0 + 30 * MIN

    async def test_flush_rows_dirty_records_flush_at_once(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """The flush_rows-th dirty record sends them all, without any timer."""
        async with running_gate(db_path, clock, flush_rows=3) as (gate, writer):
            for i in range(2):
                await gate.ask(RecordFailure("entity", f"e{i}"))
            assert (await stats(gate)).flushes == 0
            await gate.ask(RecordFailure("entity", "e2"))
            assert ((s := await stats(gate)).flushes, s.rows_flushed) == (1, 3)
            await writer.flush()
            assert len(rows(db_path)) == 3

    async def test_stop_flushes_and_waits(self, db_path: Path, clock: FakeClock) -> None:
        """Leaving the kernel stops the gate, which commits its dirty records first."""
        async with running_gate(db_path, clock) as (gate, _):
            for i in range(5):
                await gate.ask(RecordFailure("entity", f"e{i}"))
            await gate.ask(RecordSuccess("entity", "e0"))
        stored = rows(db_path)
        assert len(stored) == 5
        assert stored[("entity", "e0")]["attempt_count"] == 0
        assert stored[("entity", "e0")]["last_success_at"] == T0

    async def test_reset_is_written_as_a_cleared_newer_version(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """The row stays, cleared; a stale upsert of the old version cannot bring it back."""
        async with running_gate(db_path, clock) as (gate, writer):
            await gate.ask(RecordFailure(*KEY))
            stale: FailureOutcome = await gate.ask(RecordFailure(*KEY))
            await gate.ask(ResetTarget(*KEY))
            await gate.ask(FlushGate())
            await writer.write(Op(retry_record_upsert("sqlite"), stale.row))
            row = rows(db_path)[KEY]
            assert (row["attempt_count"], row["version"], row["last_attempt_at"]) == (0, 3, None)

    async def test_a_caller_row_and_the_write_behind_agree(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """The row a caller commits first is the one the gate writes later (same version)."""
        async with running_gate(db_path, clock) as (gate, writer):
            outcome: FailureOutcome = await gate.ask(RecordFailure(*KEY))
            await writer.write(Op(retry_record_upsert("sqlite"), outcome.row))
            committed = rows(db_path)[KEY]
            await gate.ask(FlushGate())
            assert rows(db_path)[KEY] == committed


class TestWriteFailures:
    """A write that fails is reported and kept, never dropped silently."""

    async def test_a_rejected_write_is_retried_by_the_next_flush(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """With the table gone the flush is rejected; the record stays dirty and lands later."""
        async with running_gate(db_path, clock) as (gate, _):
            await gate.ask(RecordFailure(*KEY))
            conn = sqlite3.connect(db_path)
            try:
                conn.execute("ALTER TABLE retry_records RENAME TO parked")
                conn.commit()
                with pytest.raises(WriteRejected):
                    await gate.ask(FlushGate())
                assert ((s := await stats(gate)).write_errors, s.dirty, s.in_flight) == (1, 1, 0)
                assert (await gate.ask(CanRetry(*KEY))).attempt == 2
                conn.execute("ALTER TABLE parked RENAME TO retry_records")
                conn.commit()
            finally:
                conn.close()
            await gate.ask(FlushGate())
            assert rows(db_path)[KEY]["attempt_count"] == 1

    async def test_a_closed_writer_fails_the_flush(self, db_path: Path, clock: FakeClock) -> None:
        """FlushGate raises when the writer is gone; decisions still flow from memory."""
        async with running_gate(db_path, clock) as (gate, writer):
            await writer.aclose()
            await gate.ask(RecordFailure(*KEY))
            with pytest.raises(WriterClosed):
                await gate.ask(FlushGate())
            assert (await stats(gate)).dirty == 1
            assert not (await gate.ask(CanRetry(*KEY))).allowed


class TestLoads:
    """A key is read at most once per incarnation; absence is remembered."""

    async def test_cached_key_is_read_once(self, db_path: Path, clock: FakeClock) -> None:
        """An on-disk record is loaded on first sight, then answered from memory."""
        seed(db_path, KEY)
        async with running_gate(db_path, clock) as (gate, _):
            at(clock, 29)
            for _ in range(10):
                decision = await gate.ask(CanRetry(*KEY))
                assert (decision.allowed, decision.retry_after) == (False, T0 + 30 * MIN)
            await gate.ask(RecordFailure(*KEY))
            assert (await stats(gate)).loads == 1

    async def test_absent_key_is_read_once(self, db_path: Path, clock: FakeClock) -> None:
        """A key with no row is read once; later requests use the negative cache."""
        seed(db_path, ("entity", "someone-else"))
        async with running_gate(db_path, clock) as (gate, _):
            for _ in range(5):
                assert (await gate.ask(CanRetry(*KEY))).phase == "first"
            assert await gate.ask(RecordSuccess(*KEY)) is None
            assert await gate.ask(GetRecord(*KEY)) is None
            assert ((s := await stats(gate)).loads, s.absent) == (1, 1)
            await gate.ask(RecordFailure(*KEY))
            assert ((s := await stats(gate)).loads, s.absent, s.cached) == (1, 0, 1)

    async def test_empty_table_needs_no_reads(self, db_path: Path, clock: FakeClock) -> None:
        """When the table is empty at start, no key is ever read."""
        async with running_gate(db_path, clock) as (gate, _):
            for i in range(20):
                await gate.ask(CanRetry("entity", f"e{i}"))
                await gate.ask(RecordFailure("entity", f"e{i}"))
            assert (await stats(gate)).loads == 0

    async def test_negative_cache_is_bounded(self, db_path: Path, clock: FakeClock) -> None:
        """The negative cache keeps at most max_cached keys, dropping the oldest."""
        seed(db_path, ("entity", "someone-else"))
        async with running_gate(db_path, clock, max_cached=3) as (gate, _):
            for i in range(5):
                await gate.ask(CanRetry("entity", f"e{i}"))
            await gate.ask(CanRetry("entity", "e4"))
            assert ((s := await stats(gate)).absent, s.loads) == (3, 5)
            await gate.ask(CanRetry("entity", "e0"))
            assert (await stats(gate)).loads == 6


class TestEviction:
    """Only clean records of ended cycles are evicted; an evicted key is read again."""

    async def test_dirty_records_are_never_evicted(self, db_path: Path, clock: FakeClock) -> None:
        """Ended but unflushed records stay over max_cached; once committed they may go."""
        async with running_gate(db_path, clock, max_cached=2) as (gate, _):
            keys = [("entity", f"e{i}") for i in range(4)]
            for key in keys:
                await gate.ask(RecordFailure(*key))
                await gate.ask(RecordSuccess(*key))
            assert ((s := await stats(gate)).cached, s.evictions, s.dirty) == (4, 0, 4)
            await gate.ask(FlushGate())
            await gate.ask(RecordFailure("entity", "new"))
            assert ((s := await stats(gate)).cached, s.evictions) == (2, 3)
            assert rows(db_path)[keys[0]]["version"] == 2

    async def test_an_evicted_key_is_reloaded_and_keeps_its_version(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """After eviction the record is read back, and its next change is stored."""
        async with running_gate(db_path, clock, max_cached=1) as (gate, _):
            await gate.ask(RecordFailure(*KEY))
            await gate.ask(RecordSuccess(*KEY))
            await gate.ask(FlushGate())
            await gate.ask(RecordFailure("entity", "other"))
            assert ((s := await stats(gate)).evictions, s.loads) == (1, 0)
            reloaded: RetryRecord | None = await gate.ask(GetRecord(*KEY))
            assert reloaded is not None
            assert (reloaded.version, reloaded.last_success_at) == (2, T0)
            assert (await stats(gate)).loads == 1
            outcome: FailureOutcome = await gate.ask(RecordFailure(*KEY))
            assert outcome.row["version"] == 3
            await gate.ask(FlushGate())
            assert rows(db_path)[KEY]["version"] == 3


class TestRestart:
    """A new kernel and gate on the same file continue where the last one stopped."""

    async def test_windows_continue_across_a_restart(self, db_path: Path, clock: FakeClock) -> None:
        """One failure, restart: denied at +29 min, allowed at +30 min."""
        async with running_gate(db_path, clock) as (gate, _):
            await gate.ask(RecordFailure(*KEY))
        async with running_gate(db_path, clock) as (gate, _):
            at(clock, 29)
            denied = await gate.ask(CanRetry(*KEY))
            assert (denied.allowed, denied.phase, denied.attempt) == (False, "base", 2)
            assert denied.retry_after == T0 + 30 * MIN
            at(clock, 30)
            assert (await gate.ask(CanRetry(*KEY))).allowed
            assert (await stats(gate)).loads == 1

    async def test_the_early_retry_flag_survives(self, db_path: Path, clock: FakeClock) -> None:
        """An early retry granted before a restart is not granted again after it."""
        async with running_gate(db_path, clock) as (gate, _):
            await gate.ask(RecordFailure(*KEY))
            at(clock, 20)
            assert (await gate.ask(CanRetry(*KEY, explicit=True))).early
        async with running_gate(db_path, clock) as (gate, _):
            at(clock, 21)
            again = await gate.ask(CanRetry(*KEY, explicit=True))
            assert (again.allowed, again.reason) == (False, "early_retry_used")
            at(clock, 30)
            normal = await gate.ask(CanRetry(*KEY, explicit=True))
            assert (normal.allowed, normal.early) == (True, False)

    async def test_the_cycle_keeps_its_policy_snapshot(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """A config change between restarts does not rewrite a running window."""
        async with running_gate(db_path, clock) as (gate, _):
            await gate.ask(RecordFailure(*KEY))
        longer = RetryPolicyConfig(base_wait_minutes=60)
        async with running_gate(db_path, clock, longer) as (gate, _):
            at(clock, 30)
            assert (await gate.ask(CanRetry(*KEY))).allowed
            outcome: FailureOutcome = await gate.ask(RecordFailure(*KEY))
            assert outcome.decision.retry_after == T0 + 60 * MIN
            new = await gate.ask(RecordFailure("entity", "new"))
            assert new.decision.retry_after == T0 + 30 * MIN + 60 * MIN

    async def test_a_crash_restarts_the_gate_from_the_database(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """A tell that raises crashes the gate; its changes were flushed and are reloaded."""
        seed(db_path, ("entity", "someone-else"))
        async with running_gate(db_path, clock) as (gate, _):
            await gate.ask(RecordFailure(*KEY))
            await gate.tell(RecordFailure("", "bad"))
            stored: RetryRecord | None = await gate.ask(GetRecord(*KEY))
            assert stored is not None
            assert stored.attempt_count == 1
            s = await stats(gate)
            assert (s.loads, s.failures) == (1, 0)  # a fresh incarnation read it back
            assert rows(db_path)[KEY]["attempt_count"] == 1


class TestSlowWriter:
    """A writer stuck behind a lock never holds up decisions."""

    async def test_decisions_flow_while_the_database_is_locked(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """Another connection holds the write lock: the gate answers, writes wait, then land."""
        seed(db_path, ("entity", "on-disk"))
        async with running_gate(db_path, clock, busy_timeout_ms=10, flush_rows=2) as (
            gate,
            writer,
        ):
            blocker = sqlite3.connect(db_path, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")
            try:
                for i in range(20):
                    assert (await gate.ask(CanRetry("entity", f"e{i}"), timeout=5)).allowed
                    await gate.ask(RecordFailure("entity", f"e{i}"), timeout=5)
                on_disk = await gate.ask(CanRetry("entity", "on-disk"), timeout=5)
                assert (on_disk.allowed, on_disk.attempt) == (False, 2)
                await wait_until(lambda: writer.statistics().retries > 0)
                assert (await stats(gate)).flushes == 10
                assert writer.statistics().ops_committed == 0
            finally:
                blocker.rollback()
                blocker.close()
            await gate.ask(FlushGate())
            assert len(rows(db_path)) == 21
            assert (await stats(gate)).in_flight == 0
