"""The group-commit writer: batching, atomic submissions, retries, rejections, closing."""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

import anyio
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from structlog.testing import capture_logs

from actorgrid.kernel.testing import wait_until
from actorgrid.storage import (
    Base,
    FlushTimeout,
    InvalidOp,
    InvalidStorageArgument,
    Op,
    Receipt,
    StorageError,
    Writer,
    WriterClosed,
    WriteRejected,
    WriterNotStarted,
    create_engine,
)
from actorgrid.storage._transient import is_transient

from ..locking import hold_write_lock

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

RETRY = Base.metadata.tables["retry_records"]
MESSAGES = Base.metadata.tables["messages"]

INSERT_RECORD = sa.insert(RETRY)
_upsert = sqlite_insert(RETRY)
UPSERT_RECORD = _upsert.on_conflict_do_update(
    index_elements=["target_type", "target_id"],
    set_={
        "attempt_count": _upsert.excluded.attempt_count,
        "policy_snapshot": _upsert.excluded.policy_snapshot,
        "version": _upsert.excluded.version,
        "updated_at": _upsert.excluded.updated_at,
    },
    where=RETRY.c.version < _upsert.excluded.version,
)
INSERT_MESSAGE = sa.insert(MESSAGES)
MARK_DONE = (
    sa.update(MESSAGES)
    .where(MESSAGES.c.id == sa.bindparam("b_id"))
    .values(state="done", updated_at=sa.bindparam("b_now"))
)
DELETE_MESSAGES = sa.delete(MESSAGES).where(MESSAGES.c.id.in_(sa.bindparam("ids", expanding=True)))


def record(key: str, *, attempts: int = 1, version: int = 1, **extra: Any) -> dict[str, Any]:
    """Return retry_records params for ``("entity", key)``."""
    return {
        "target_type": "entity",
        "target_id": key,
        "attempt_count": attempts,
        "policy_snapshot": {"base_wait": 1800.0, "key": key},
        "version": version,
        "updated_at": 1.0,
        **extra,
    }


def message(key: str, state: str = "ready") -> dict[str, Any]:
    """Return messages params for id ``key``."""
    return {
        "id": key,
        "topic": "orders",
        "target_type": "orders",
        "target_id": key,
        "payload": b"\x81\xa1k\x01",
        "state": state,
        "available_at": 0.0,
        "created_at": 0.0,
        "updated_at": 0.0,
    }


async def records(engine: AsyncEngine) -> dict[str, tuple[int, int, Any]]:
    """Return target_id -> (attempt_count, version, policy_snapshot) of every retry record."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(
                RETRY.c.target_id, RETRY.c.attempt_count, RETRY.c.version, RETRY.c.policy_snapshot
            )
        )
        return {r.target_id: (r.attempt_count, r.version, r.policy_snapshot) for r in rows}


async def messages(engine: AsyncEngine) -> dict[str, tuple[str, float]]:
    """Return id -> (state, updated_at) of every message."""
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(MESSAGES.c.id, MESSAGES.c.state, MESSAGES.c.updated_at))
        return {r.id: (r.state, r.updated_at) for r in rows}


class TestBatching:
    """Submissions are committed together, in order, in as few transactions as allowed."""

    async def test_submissions_made_together_commit_in_one_transaction(
        self, engine: AsyncEngine
    ) -> None:
        """Fifty submissions made without yielding commit as one batch."""
        async with Writer(engine) as writer:
            receipts = [writer.submit(Op(INSERT_RECORD, record(f"k{i}"))) for i in range(50)]
            assert writer.statistics().pending_ops == 50
            assert writer.statistics().pending_submissions == 50
            await writer.flush()
            stats = writer.statistics()
        assert all(r.done and r.error is None for r in receipts)
        assert (stats.batches_committed, stats.ops_committed) == (1, 50)
        assert (stats.pending_ops, stats.pending_submissions) == (0, 0)
        assert len(await records(engine)) == 50

    async def test_a_lone_submission_commits_without_waiting_for_max_delay(
        self, engine: AsyncEngine
    ) -> None:
        """With a 30 s group-commit window, a lone write still commits at once, and twenty
        submissions made together still share one transaction."""
        async with Writer(engine, max_delay=30.0) as writer:
            with anyio.fail_after(5):  # a hang guard: the old writer waited out the 30 s
                await writer.write(Op(INSERT_RECORD, record("lone")))
            assert writer.statistics().batches_committed == 1
            receipts = [writer.submit(Op(INSERT_RECORD, record(f"k{i}"))) for i in range(20)]
            with anyio.fail_after(5):
                for receipt in receipts:
                    await receipt.wait()
            stats = writer.statistics()
        assert (stats.batches_committed, stats.ops_committed) == (2, 21)
        assert stats.batch_ops.count == 2
        assert len(await records(engine)) == 21

    async def test_max_batch_ops_caps_a_transaction(self, engine: AsyncEngine) -> None:
        """With max_batch_ops=10, 25 single-op submissions take three transactions."""
        async with Writer(engine, max_batch_ops=10) as writer:
            for i in range(25):
                writer.submit(Op(INSERT_RECORD, record(f"k{i}")))
            await writer.flush()
            stats = writer.statistics()
        assert (stats.batches_committed, stats.ops_committed) == (3, 25)

    async def test_a_large_submission_commits_whole(self, engine: AsyncEngine) -> None:
        """A submission larger than max_batch_ops is not split."""
        async with Writer(engine, max_batch_ops=2) as writer:
            await writer.write(*(Op(INSERT_RECORD, record(f"k{i}")) for i in range(5)))
            stats = writer.statistics()
        assert (stats.batches_committed, stats.ops_committed) == (1, 5)

    async def test_order_is_kept_across_statements(self, engine: AsyncEngine) -> None:
        """Inserts, updates, upserts and deletes apply in submission order."""
        async with Writer(engine) as writer:
            writer.submit(Op(INSERT_MESSAGE, message("m1")), Op(INSERT_MESSAGE, message("m2")))
            writer.submit(Op(MARK_DONE, {"b_id": "m1", "b_now": 5.0}))
            writer.submit(Op(INSERT_MESSAGE, message("m3")), Op(INSERT_MESSAGE, message("m4")))
            writer.submit(Op(DELETE_MESSAGES, {"ids": ["m2", "m3"]}))
            writer.submit(Op(UPSERT_RECORD, record("a", attempts=1, version=1)))
            writer.submit(Op(UPSERT_RECORD, record("a", attempts=2, version=2)))
            writer.submit(Op(UPSERT_RECORD, record("a", attempts=9, version=1)))  # stale
            await writer.flush()
            assert writer.statistics().batches_committed == 1
        assert await messages(engine) == {"m1": ("done", 5.0), "m4": ("ready", 0.0)}
        assert (await records(engine))["a"][:2] == (2, 2)

    async def test_values_are_captured_at_submit(self, engine: AsyncEngine) -> None:
        """Mutating the params after submit does not change what is written."""
        params = record("k")
        async with Writer(engine) as writer:
            writer.submit(Op(INSERT_RECORD, params))
            params["attempt_count"] = 99
            params["policy_snapshot"]["key"] = "changed"
        assert (await records(engine))["k"] == (1, 1, {"base_wait": 1800.0, "key": "k"})

    async def test_column_defaults_apply(self, engine: AsyncEngine) -> None:
        """Columns left out get the models' Python-side defaults."""
        async with Writer(engine) as writer:
            await writer.write(
                Op(INSERT_RECORD, {"target_type": "e", "target_id": "k", "updated_at": 1.0})
            )
        assert (await records(engine))["k"] == (0, 0, None)

    async def test_different_key_sets_of_one_statement(self, engine: AsyncEngine) -> None:
        """One statement used with different params keys writes each op's own columns."""
        async with Writer(engine) as writer:
            writer.submit(Op(INSERT_RECORD, record("a")))
            writer.submit(
                Op(INSERT_RECORD, {"target_type": "e", "target_id": "b", "updated_at": 0})
            )
            writer.submit(Op(INSERT_RECORD, record("c", attempts=3)))
        assert await records(engine) == {
            "a": (1, 1, {"base_wait": 1800.0, "key": "a"}),
            "b": (0, 0, None),
            "c": (3, 1, {"base_wait": 1800.0, "key": "c"}),
        }

    async def test_text_statements(self, engine: AsyncEngine) -> None:
        """A text() statement with named parameters is executed too."""
        stmt = sa.text("UPDATE messages SET state = :state WHERE id = :id")
        async with Writer(engine) as writer:
            await writer.write(Op(INSERT_MESSAGE, message("m1")))
            await writer.write(Op(stmt, {"state": "dead", "id": "m1"}))
        assert (await messages(engine))["m1"][0] == "dead"

    async def test_statement_without_params(self, engine: AsyncEngine) -> None:
        """An Op without params runs its statement once."""
        async with Writer(engine) as writer:
            await writer.write(Op(INSERT_MESSAGE, message("m1")))
            await writer.write(Op(sa.delete(MESSAGES)))
        assert await messages(engine) == {}

    async def test_generic_driver_path(
        self, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without aiosqlite's own executemany, rows go through exec_driver_sql the same way."""
        writer = Writer(engine)
        monkeypatch.setattr(writer._executor, "_use_driver", False)
        async with writer:
            writer.submit(*(Op(INSERT_RECORD, record(f"k{i}")) for i in range(3)))
            writer.submit(Op(MARK_DONE, {"b_id": "none", "b_now": 1.0}))
        assert len(await records(engine)) == 3

    async def test_flush_with_nothing_pending_returns(self, engine: AsyncEngine) -> None:
        """flush() on an idle writer returns at once."""
        async with Writer(engine) as writer:
            await writer.flush()
            assert writer.statistics().batches_committed == 0

    async def test_empty_submission_is_done_at_once(self, engine: AsyncEngine) -> None:
        """submit() with no ops returns a receipt that is already done."""
        async with Writer(engine) as writer:
            receipt = writer.submit()
            assert receipt.done
            await receipt.wait()
            assert writer.statistics().pending_submissions == 0

    async def test_cancelled_wait_keeps_the_submission(self, engine: AsyncEngine) -> None:
        """Cancelling write() while it waits does not withdraw what it submitted."""
        async with Writer(engine) as writer:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await writer.write(Op(INSERT_RECORD, record("k")))
            assert scope.cancelled_caught
            await writer.flush()
        assert "k" in await records(engine)

    async def test_many_tasks_submitting(self, engine: AsyncEngine) -> None:
        """Concurrent writers from many tasks all commit."""
        async with Writer(engine) as writer:

            async def producer(n: int) -> None:
                for i in range(20):
                    await writer.write(Op(INSERT_RECORD, record(f"{n}-{i}")))

            async with anyio.create_task_group() as tg:
                for n in range(10):
                    tg.start_soon(producer, n)
            stats = writer.statistics()
        assert stats.ops_committed == 200
        assert stats.batches_committed < 200
        assert len(await records(engine)) == 200


class TestFailures:
    """Failures roll back, are retried or rejected; nothing is lost silently."""

    async def test_one_bad_submission_does_not_sink_the_batch(self, engine: AsyncEngine) -> None:
        """A failing submission is rejected whole; the others in its batch commit."""
        async with Writer(engine) as writer:
            await writer.write(Op(INSERT_RECORD, record("taken")))
            with capture_logs() as logs:
                good1 = writer.submit(
                    Op(INSERT_RECORD, record("a")), Op(INSERT_RECORD, record("b"))
                )
                bad = writer.submit(
                    Op(INSERT_RECORD, record("c")), Op(INSERT_RECORD, record("taken"))
                )
                good2 = writer.submit(Op(INSERT_RECORD, record("d")))
                await writer.flush()
            stats = writer.statistics()
        assert good1.error is None
        assert good2.error is None
        assert isinstance(bad.error, WriteRejected)
        assert isinstance(bad.error.cause, sa.exc.IntegrityError | sqlite3.IntegrityError)
        assert bad.error.ops == 2
        assert sorted(await records(engine)) == ["a", "b", "d", "taken"]
        assert stats.rejected == 1
        assert stats.ops_committed == 4
        assert stats.pending_ops == 0
        assert stats.last_error is not None
        assert "UNIQUE" in stats.last_error
        rejected = [e for e in logs if e["event"] == "writer_submission_rejected"]
        assert len(rejected) == 1
        assert rejected[0]["log_level"] == "warning"
        assert rejected[0]["ops"] == 2

    async def test_failure_with_later_batches_queued(self, engine: AsyncEngine) -> None:
        """Batches queued behind a failed one are not lost or reordered; they commit after."""
        async with Writer(engine, max_batch_ops=2) as writer:
            await writer.write(Op(INSERT_RECORD, record("taken")))
            receipts = [
                writer.submit(Op(INSERT_RECORD, record("a"))),
                writer.submit(Op(INSERT_RECORD, record("taken"))),
                writer.submit(Op(UPSERT_RECORD, record("a", attempts=5, version=5))),
                writer.submit(Op(INSERT_RECORD, record("b"))),
                writer.submit(Op(INSERT_RECORD, record("c"))),
            ]
            await writer.flush()
            stats = writer.statistics()
        assert [r.error is None for r in receipts] == [True, False, True, True, True]
        assert (stats.rejected, stats.ops_committed, stats.pending_ops) == (1, 5, 0)
        found = await records(engine)
        assert sorted(found) == ["a", "b", "c", "taken"]
        assert found["a"][:2] == (5, 5)

    async def test_write_raises_write_rejected(self, engine: AsyncEngine) -> None:
        """write() raises WriteRejected with the database error as its cause."""
        async with Writer(engine) as writer:
            await writer.write(Op(INSERT_RECORD, record("k")))
            with pytest.raises(WriteRejected) as info:
                await writer.write(Op(INSERT_RECORD, record("k")))
            receipt = writer.submit(Op(INSERT_RECORD, record("k")))
            with pytest.raises(WriteRejected):
                await receipt.wait()
        assert isinstance(info.value, StorageError)
        assert info.value.__cause__ is info.value.cause
        assert "UNIQUE constraint failed" in str(info.value)

    async def test_a_missing_table_is_rejected_not_retried(self, tmp_path: Path) -> None:
        """'no such table' is permanent: rejected at once, no retries."""
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
        try:
            async with Writer(engine) as writer:
                with pytest.raises(WriteRejected, match="no such table"):
                    await writer.write(Op(INSERT_RECORD, record("k")))
                assert writer.statistics().retries == 0
        finally:
            await engine.dispose()

    async def test_a_database_that_cannot_be_opened(self, tmp_path: Path) -> None:
        """A failed connect rejects the submission; the writer keeps running and closes."""
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}")
        try:
            async with Writer(engine) as writer:
                with pytest.raises(WriteRejected, match="unable to open database file"):
                    await writer.write(Op(INSERT_RECORD, record("k")))
                receipt = writer.submit(Op(INSERT_RECORD, record("j")))
                await writer.flush()
                assert isinstance(receipt.error, WriteRejected)
                assert writer.statistics().rejected == 2
        finally:
            await engine.dispose()

    async def test_locked_database_is_retried_until_it_commits(
        self, db_path: Path, engine: AsyncEngine
    ) -> None:
        """While another connection holds the write lock the rows stay pending, then commit."""
        fast = create_engine(f"sqlite+aiosqlite:///{db_path}", busy_timeout_ms=0)
        blocker = sqlite3.connect(db_path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with capture_logs() as logs:
                async with Writer(fast, retry_initial=0.005, retry_max=0.01) as writer:
                    receipt = writer.submit(
                        Op(INSERT_RECORD, record("a")), Op(INSERT_RECORD, record("b"))
                    )
                    # The retries are observable only through statistics.
                    await wait_until(lambda: writer.statistics().retries >= 3, timeout=30)
                    stats = writer.statistics()
                    assert not receipt.done
                    assert (stats.pending_ops, stats.pending_submissions) == (2, 1)
                    assert stats.last_error is not None
                    assert "locked" in stats.last_error
                    assert blocker.execute("SELECT count(*) FROM retry_records").fetchone() == (0,)
                    blocker.execute("ROLLBACK")
                    await receipt.wait()
                    stats = writer.statistics()
            assert (stats.pending_ops, stats.rejected, stats.ops_committed) == (0, 0, 2)
            assert sorted(await records(engine)) == ["a", "b"]
            retries = [e for e in logs if e["event"] == "writer_commit_retry"]
            assert len(retries) >= 3
            assert all(e["log_level"] == "warning" for e in retries)
        finally:
            blocker.close()
            await fast.dispose()

    async def test_locked_database_with_several_batches(
        self, db_path: Path, engine: AsyncEngine
    ) -> None:
        """Several batches held up by a lock all commit, in order, once it is released."""
        fast = create_engine(f"sqlite+aiosqlite:///{db_path}", busy_timeout_ms=0)
        blocker = sqlite3.connect(db_path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            async with Writer(fast, max_batch_ops=1, retry_initial=0.005, retry_max=0.01) as w:
                receipts = [
                    w.submit(Op(UPSERT_RECORD, record("k", attempts=v, version=v)))
                    for v in range(1, 6)
                ]
                await wait_until(lambda: w.statistics().retries >= 2, timeout=30)
                assert w.statistics().pending_submissions == 5
                blocker.execute("ROLLBACK")
                await w.flush()
                stats = w.statistics()
            assert all(r.done and r.error is None for r in receipts)
            assert (stats.batches_committed, stats.rejected) == (5, 0)
            assert (await records(engine))["k"][:2] == (5, 5)
        finally:
            blocker.close()
            await fast.dispose()

    async def test_close_timeout_rejects_what_cannot_be_written(
        self, db_path: Path, engine: AsyncEngine
    ) -> None:
        """If the final flush cannot finish in close_timeout, the rest is rejected, loudly."""
        fast = create_engine(f"sqlite+aiosqlite:///{db_path}", busy_timeout_ms=0)
        blocker = sqlite3.connect(db_path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            writer = Writer(fast, retry_initial=0.005, retry_max=0.01, close_timeout=0.05)
            with capture_logs() as logs, pytest.raises(FlushTimeout) as info:
                async with writer:
                    receipt = writer.submit(Op(INSERT_RECORD, record("a")))
            assert info.value.pending_ops == 1
            assert isinstance(receipt.error, WriteRejected)
            assert receipt.error.cause is info.value
            assert writer.statistics().rejected == 1
            assert writer.statistics().pending_ops == 0
            assert any(e["event"] == "writer_flush_timeout" for e in logs)
        finally:
            blocker.close()
            await fast.dispose()

    async def test_a_lock_shorter_than_the_busy_timeout_is_waited_out_in_slices(
        self, db_path: Path, engine: AsyncEngine
    ) -> None:
        """The writer waits for the lock in slices, but as long as the busy timeout: a lock
        released after 0.5 s is taken without a failed commit or a retry."""
        patient = create_engine(f"sqlite+aiosqlite:///{db_path}")  # busy_timeout 5000 ms
        try:
            with capture_logs() as logs:
                async with Writer(patient) as writer:
                    await writer.write(Op(INSERT_RECORD, record("before")))
                    with hold_write_lock(db_path) as holder:
                        receipt = writer.submit(Op(INSERT_RECORD, record("after")))
                        await anyio.sleep(0.5)
                        assert not receipt.done
                        assert holder.stdin is not None
                        holder.stdin.close()  # the holder rolls back and exits
                        await receipt.wait()
                    assert writer.statistics().retries == 0
            assert not [e for e in logs if e["event"] == "writer_commit_retry"]
            assert sorted(await records(engine)) == ["after", "before"]
        finally:
            await patient.dispose()

    async def test_close_gives_up_on_another_process_lock_within_close_timeout(
        self, db_path: Path, engine: AsyncEngine
    ) -> None:
        """A lock held by another process through the close: the writer waits for it in
        slices, so it gives up at the close timeout (not after SQLite's 5 s busy timeout),
        rejects the pending rows and names them in one error."""
        patient = create_engine(f"sqlite+aiosqlite:///{db_path}")  # busy_timeout 5000 ms
        try:
            async with Writer(patient, close_timeout=0.5) as writer:
                await writer.write(Op(INSERT_RECORD, record("before")))  # the connection is open
                with hold_write_lock(db_path):
                    first = writer.submit(Op(INSERT_MESSAGE, message("m1")))
                    second = writer.submit(
                        Op(INSERT_MESSAGE, message("m2")), Op(INSERT_RECORD, record("r"))
                    )
                    await anyio.sleep(0.2)  # the first transaction is waiting for the lock
                    started = time.monotonic()
                    with capture_logs() as logs, pytest.raises(FlushTimeout) as info:
                        await writer.aclose()
                    took = time.monotonic() - started
            assert took < 1.5, f"the close took {took:.1f}s with close_timeout 0.5 s"
            assert info.value.unwritten == {"insert messages": 2, "insert retry_records": 1}
            assert isinstance(first.error, WriteRejected)
            assert isinstance(second.error, WriteRejected)
            [error] = [e for e in logs if e["event"] == "writer_flush_timeout"]
            assert error["log_level"] == "error"
            assert error["unwritten"] == "insert messages: 2, insert retry_records: 1"
            assert not error["commit_outcome_unknown"]
        finally:
            await patient.dispose()
        with sqlite3.connect(db_path) as db:
            assert db.execute("SELECT count(*) FROM messages").fetchone() == (0,)
            assert db.execute("SELECT target_id FROM retry_records").fetchall() == [("before",)]

    @pytest.mark.parametrize(
        ("error", "transient"),
        [
            (sqlite3.OperationalError("database is locked"), True),
            (sqlite3.OperationalError("disk I/O error"), True),
            (sqlite3.OperationalError("database or disk is full"), True),
            (
                sa.exc.OperationalError("x", {}, sqlite3.OperationalError("database is locked")),
                True,
            ),
            (sqlite3.OperationalError("no such table: retry_records"), False),
            (sqlite3.IntegrityError("UNIQUE constraint failed"), False),
            (sa.exc.IntegrityError("x", {}, sqlite3.IntegrityError("NOT NULL")), False),
            (ValueError("boom"), False),
        ],
    )
    def test_transient_classification(self, error: Exception, transient: bool) -> None:
        """Locks, I/O and full disks are transient; constraint and schema errors are not."""
        assert is_transient(error) is transient


class TestClosing:
    """Closing flushes everything; a closed writer accepts nothing."""

    async def test_exit_flushes_everything(self, engine: AsyncEngine) -> None:
        """Leaving the context commits every pending submission."""
        async with Writer(engine, max_batch_ops=7) as writer:
            receipts = [writer.submit(Op(INSERT_RECORD, record(f"k{i}"))) for i in range(30)]
        assert all(r.done and r.error is None for r in receipts)
        assert len(await records(engine)) == 30
        assert writer.statistics().pending_ops == 0

    async def test_exit_flushes_even_when_cancelled(self, engine: AsyncEngine) -> None:
        """A cancelled host scope still gets its pending rows committed on the way out."""
        with anyio.CancelScope() as scope:
            async with Writer(engine) as writer:
                writer.submit(Op(INSERT_RECORD, record("k")))
                scope.cancel()
                await anyio.sleep_forever()
        assert scope.cancelled_caught
        assert "k" in await records(engine)

    async def test_exit_with_an_error_flushes_and_reraises_it(self, engine: AsyncEngine) -> None:
        """An error in the body still leaves every submission committed, then propagates."""

        async def body() -> None:
            async with Writer(engine) as writer:
                writer.submit(Op(INSERT_RECORD, record("k")))
                raise LookupError("from the body")

        with pytest.raises(LookupError, match="from the body"):
            await body()
        assert "k" in await records(engine)

    async def test_submit_after_close_raises(self, engine: AsyncEngine) -> None:
        """submit() and write() on a closed writer raise WriterClosed; flush() returns."""
        async with Writer(engine) as writer:
            pass
        with pytest.raises(WriterClosed):
            writer.submit(Op(INSERT_RECORD, record("k")))
        with pytest.raises(WriterClosed):
            await writer.write(Op(INSERT_RECORD, record("k")))
        await writer.flush()
        await writer.aclose()
        assert await records(engine) == {}

    async def test_aclose_from_another_task(self, engine: AsyncEngine) -> None:
        """aclose() called elsewhere flushes and closes; a second call is harmless."""
        async with Writer(engine) as writer:
            receipt = writer.submit(Op(INSERT_RECORD, record("k")))
            async with anyio.create_task_group() as tg:
                tg.start_soon(writer.aclose)
            assert receipt.done
            with pytest.raises(WriterClosed):
                writer.submit(Op(INSERT_RECORD, record("j")))
            await writer.aclose()
        assert sorted(await records(engine)) == ["k"]

    async def test_not_started(self, engine: AsyncEngine) -> None:
        """Before the writer is entered, submit/write/flush raise WriterNotStarted."""
        writer = Writer(engine)
        with pytest.raises(WriterNotStarted):
            writer.submit(Op(INSERT_RECORD, record("k")))
        with pytest.raises(WriterNotStarted):
            await writer.write(Op(INSERT_RECORD, record("k")))
        with pytest.raises(WriterNotStarted):
            await writer.flush()
        await writer.aclose()

    async def test_cannot_enter_twice(self, engine: AsyncEngine) -> None:
        """A writer runs once."""
        async with Writer(engine) as writer:
            with pytest.raises(RuntimeError, match="only once"):
                await writer.__aenter__()


class TestBadInput:
    """Bad operations and options raise typed errors and queue nothing."""

    @pytest.mark.parametrize("statement", ["INSERT INTO x VALUES (1)", None, 42, RETRY])
    def test_op_needs_an_executable_statement(self, statement: Any) -> None:
        """A string, None, a number or a table is not an executable statement."""
        with pytest.raises(InvalidOp, match="executable"):
            Op(statement, {})

    @pytest.mark.parametrize("params", [[("a", 1)], "a=1", None])
    def test_op_needs_a_mapping(self, params: Any) -> None:
        """Params must be a mapping."""
        with pytest.raises(InvalidOp, match="mapping"):
            Op(INSERT_RECORD, params)

    async def test_submit_rejects_bad_operations_and_queues_nothing(
        self, engine: AsyncEngine
    ) -> None:
        """Each bad submission raises InvalidOp and leaves nothing pending, even its good ops."""
        good = Op(INSERT_RECORD, record("ok"))
        bad_submissions: list[tuple[Any, str]] = [
            ((good, "not an op"), "expected an Op"),
            ((good, Op(INSERT_RECORD, record("x", junk=1))), "not used by the statement.*junk"),
            ((good, Op(MARK_DONE, {"b_now": 1.0})), "b_id"),
            ((good, Op(INSERT_RECORD, record("x", policy_snapshot={"v": object()}))), "convert"),
        ]
        async with Writer(engine) as writer:
            for ops, message_pattern in bad_submissions:
                with pytest.raises(InvalidOp, match=message_pattern):
                    writer.submit(*ops)
                assert writer.statistics().pending_ops == 0
            writer.submit(good)
            # The statement's plan is cached now; the cached path still refuses the value.
            with pytest.raises(InvalidOp, match="convert"):
                writer.submit(Op(INSERT_RECORD, record("x", policy_snapshot={"v": object()})))
        assert sorted(await records(engine)) == ["ok"]

    @pytest.mark.parametrize(
        ("option", "value"),
        [
            ("max_batch_ops", 0),
            ("max_batch_ops", 1.5),
            ("max_batch_ops", True),
            ("max_delay", -0.001),
            ("max_delay", float("nan")),
            ("max_delay", float("inf")),
            ("retry_initial", 0),
            ("retry_max", 0.01),
            ("close_timeout", -1),
            ("close_timeout", "1"),
        ],
    )
    def test_bad_options(self, option: str, value: Any) -> None:
        """Out-of-range options raise InvalidStorageArgument naming the option."""
        engine = create_engine("sqlite+aiosqlite:///:memory:")  # never connects
        with pytest.raises(InvalidStorageArgument, match=option):
            Writer(engine, **{option: value})

    async def test_receipt_type_is_public(self, engine: AsyncEngine) -> None:
        """submit() returns a Receipt."""
        async with Writer(engine) as writer:
            assert isinstance(writer.submit(Op(INSERT_RECORD, record("k"))), Receipt)
