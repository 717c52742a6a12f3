"""The retry gate prunes finished targets' rows after the retention, and only those."""

from __future__ import annotations

import json
import math
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest

from actorgrid import RetryPolicyConfig
from actorgrid.actors.retry import (
    CanRetry,
    FlushGate,
    RecordFailure,
    RecordSuccess,
    RetryGate,
    retry_record_upsert,
)
from actorgrid.actors.retry._prune import prune_candidates
from actorgrid.kernel.testing import settle
from actorgrid.storage import Op

from ..common import T0
from ..plans import fetch, query_plan, uses_index_only
from .test_gate_persistence import rows, running_gate, stats

if TYPE_CHECKING:
    from pathlib import Path

    from actorgrid.kernel import ActorRef, FakeClock
    from actorgrid.storage import Writer

RETENTION = 3600.0
INTERVAL = 300.0
FLUSH = 1.0
PRUNING: dict[str, Any] = {
    "retention": RETENTION,
    "prune_interval": INTERVAL,
    "flush_interval": FLUSH,
}
_MESSAGE_COLUMNS = (
    "id, topic, target_type, target_id, payload, state, attempts, available_at, created_at,"
    " updated_at, early_requested"
)


def put(db_path: Path, target_id: str, attempts: int, updated_at: float, **extra: Any) -> None:
    """Insert one ``("job", target_id)`` record straight into the file."""
    values: dict[str, Any] = {
        "target_type": "job",
        "target_id": target_id,
        "attempt_count": attempts,
        "early_retry_used": 0,
        "version": 3,
        "updated_at": updated_at,
        **extra,
    }
    with sqlite3.connect(db_path) as conn:
        marks = ", ".join("?" * len(values))
        conn.execute(
            f"INSERT INTO retry_records ({', '.join(values)}) VALUES ({marks})",
            list(values.values()),
        )


def message(db_path: Path, target_id: str, state: str) -> None:
    """Insert a message row of ``("job", target_id)`` in ``state``."""
    row = (f"m-{target_id}", "jobs", "job", target_id, b"x", state, 1, T0, T0, T0, 0)
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ({', '.join('?' * 11)})", row
        )


async def prune_pass(gate: ActorRef[Any], writer: Writer, clock: FakeClock) -> None:
    """Let the prune timer fire, the batch commit, and the gate see the commit."""
    clock.advance(INTERVAL)
    await settle()
    await stats(gate)  # answered after the prune tick: the batch is submitted
    await writer.flush()
    clock.advance(FLUSH)
    await settle()
    await stats(gate)  # after the flush tick: the gate saw the commit


class TestPrune:
    async def test_finished_targets_go_and_the_others_stay(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """Ended and exhausted cycles older than the retention go; an active window, a
        recent record and a target with a scheduled or ready message stay."""
        old, now = T0, T0 + RETENTION + 60
        put(db_path, "succeeded", 0, old, last_success_at=old)
        put(db_path, "exhausted", 6, old)
        tight = json.dumps({**_snapshot(), "max_retries": 2})
        put(db_path, "exhausted-by-its-snapshot", 3, old, policy_snapshot=tight)
        put(db_path, "active", 2, old)
        put(db_path, "recent", 0, now - 60)
        put(db_path, "scheduled", 6, old)
        message(db_path, "scheduled", "scheduled")
        put(db_path, "ready", 0, old)
        message(db_path, "ready", "ready")
        clock.set(now)
        async with running_gate(db_path, clock, **PRUNING) as (gate, writer):
            await prune_pass(gate, writer, clock)
            assert (await stats(gate)).pruned == 3
        assert sorted(key[1] for key in rows(db_path)) == ["active", "ready", "recent", "scheduled"]

    async def test_the_gate_forgets_its_copy_of_a_pruned_record(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """An exhausted record the gate holds is pruned; the gate then reads the key again and
        the target starts a fresh cycle, as it does after a restart."""
        put(db_path, "exhausted", 6, T0)
        clock.set(T0 + RETENTION + 60)
        async with running_gate(db_path, clock, **PRUNING) as (gate, writer):
            denied = await gate.ask(CanRetry("job", "exhausted"))
            assert denied.phase == "exhausted"
            await prune_pass(gate, writer, clock)
            assert rows(db_path) == {}
            fresh = await gate.ask(CanRetry("job", "exhausted"))
            assert (fresh.allowed, fresh.phase) == (True, "first")
        async with running_gate(db_path, clock, **PRUNING) as (gate, _):
            again = await gate.ask(CanRetry("job", "exhausted"))
            assert (again.allowed, again.phase) == (True, "first")

    async def test_a_record_with_a_change_on_its_way_is_kept(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """The row still says "ended long ago" but the gate has a failure to write for it:
        the prune leaves it, and the failure lands."""
        put(db_path, "busy", 0, T0, last_success_at=T0)
        clock.set(T0 + RETENTION + 60)
        options: dict[str, Any] = {
            **PRUNING,
            "flush_interval": 10 * INTERVAL,
        }  # the failure stays dirty
        async with running_gate(db_path, clock, **options) as (gate, writer):
            await gate.ask(RecordFailure("job", "busy"))
            clock.advance(INTERVAL)
            await settle()
            assert (await stats(gate)).dirty == 1  # the prune tick has been handled
            await writer.flush()
            await gate.ask(FlushGate())
            assert (await stats(gate)).pruned == 0
        assert rows(db_path)[("job", "busy")]["attempt_count"] == 1

    async def test_a_held_record_is_not_deleted_under_its_queued_write(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """A success whose row the caller committed, with the gate's own (same-version)
        write of it still queued, is not pruned: the queued write would bring it back."""
        put(db_path, "held", 2, T0)
        put(db_path, "later", 2, T0)  # a re-inserted row would get a new id, not the same
        first_id = rows(db_path)[("job", "held")]["id"]
        clock.set(T0 + 10)
        options: dict[str, Any] = {
            **PRUNING,
            "flush_interval": 100 * RETENTION,
        }  # the gate's write stays queued
        async with running_gate(db_path, clock, **options) as (gate, writer):
            row = await gate.ask(RecordSuccess("job", "held", caller_writes=True))
            await writer.write(Op(retry_record_upsert("sqlite"), row))  # the caller's commit
            clock.advance(RETENTION + 1)
            await settle()
            await stats(gate)  # the prune tick has been handled
            await writer.flush()
            await gate.ask(FlushGate())
            assert (await stats(gate)).pruned == 0
        kept = rows(db_path)[("job", "held")]
        assert (kept["id"], kept["attempt_count"]) == (first_id, 0)

    async def test_a_write_committed_before_the_delete_keeps_its_row(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """A replay's transaction (a ready message and the record's reset) that commits
        between the prune's read and its delete wins: the delete is guarded by the version
        it read and by the target's messages."""
        put(db_path, "replayed", 6, T0)
        clock.set(T0 + RETENTION + 60)
        lock = sqlite3.connect(db_path, isolation_level=None)
        try:
            async with running_gate(db_path, clock, **PRUNING) as (gate, writer):
                lock.execute("BEGIN IMMEDIATE")  # the delete waits behind this transaction
                clock.advance(INTERVAL)
                await settle()
                await stats(gate)
                assert writer.statistics().pending_submissions == 1
                row = ("m-replay", "jobs", "job", "replayed", b"x", "ready", 0, T0, T0, T0, 0)
                lock.execute(
                    f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES ({', '.join('?' * 11)})",
                    row,
                )
                lock.execute(
                    "UPDATE retry_records SET attempt_count = 0, version = version + 1"
                    " WHERE target_id = 'replayed'"
                )
                lock.execute("COMMIT")
                await writer.flush()
        finally:
            lock.close()
        kept = rows(db_path)[("job", "replayed")]
        assert (kept["attempt_count"], kept["version"]) == (0, 4)


class TestCandidates:
    def test_candidates_are_a_range_of_the_updated_at_index(self, db_path: Path) -> None:
        """The prune's read walks the records unchanged since the cutoff through the index,
        with one indexed probe of the target's messages each."""
        for i in range(200):
            put(db_path, f"j{i}", 0, T0 + i)
        with sqlite3.connect(db_path) as conn:
            conn.execute("ANALYZE")
        params = {"b_cutoff": T0 + 100, "b_after_at": -math.inf, "b_after_id": 0, "b_limit": 50}
        plan = query_plan(db_path, prune_candidates, params)
        assert any("INDEX ix_retry_records_updated_at (updated_at" in line for line in plan), plan
        assert not any(line.startswith(("SCAN retry_records", "SCAN messages")) for line in plan)
        assert not any("TEMP B-TREE" in line for line in plan), plan
        assert uses_index_only(
            plan, "messages", "ix_messages_target_type_target_id", "target_type=? AND target_id=?"
        ), plan

    def test_pages_visit_records_that_share_an_updated_at(self, db_path: Path) -> None:
        """Keyset pages on (updated_at, id) go past ties: every old record is seen once."""
        for i in range(7):
            put(db_path, f"tie{i}", 0, T0)
        seen: list[str] = []
        after: tuple[float, int] = (-math.inf, 0)
        for _ in range(5):
            params = {
                "b_cutoff": T0 + 1,
                "b_after_at": after[0],
                "b_after_id": after[1],
                "b_limit": 3,
            }
            page = fetch(db_path, prune_candidates, params)
            seen += [row[2] for row in page]
            if len(page) < 3:
                break
            after = (page[-1][-2], page[-1][0])  # updated_at, id
        assert seen == [f"tie{i}" for i in range(7)]


def _snapshot() -> dict[str, Any]:
    import msgspec

    snapshot: dict[str, Any] = msgspec.to_builtins(RetryPolicyConfig())
    return snapshot


@pytest.mark.parametrize("retention", [-1.0, math.inf, True, "7d"])
def test_a_bad_retention_is_refused(retention: Any) -> None:
    """A retention that is not None or a finite number of seconds >= 0 is a ValueError."""
    with pytest.raises(ValueError, match="retention"):
        RetryGate(RetryPolicyConfig(), engine=None, writer=None, retention=retention)
