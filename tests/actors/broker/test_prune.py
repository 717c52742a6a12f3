"""The prune of done rows: bounded batches through the writer, other writes in between."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import anyio
from sqlalchemy import text

from actorgrid.actors.broker._prune import prune_done_rows
from actorgrid.kernel.testing import wait_until
from actorgrid.storage import Op, Writer, create_engine

from ..common import T0

if TYPE_CHECKING:
    from pathlib import Path

_COLUMNS = (
    "id, topic, target_type, target_id, payload, state, attempts, available_at, created_at,"
    " updated_at, early_requested"
)
_PROBE = text("INSERT INTO probe SELECT count(*) FROM messages WHERE state = 'done'")


def add_rows(path: Path, state: str, count: int, at: float, prefix: str) -> None:
    rows = [
        (f"{prefix}{i}", "t", "t", f"{prefix}{i}", b"x", state, 0, at, at, at, 0)
        for i in range(count)
    ]
    with sqlite3.connect(path) as conn:
        conn.executemany(f"INSERT INTO messages ({_COLUMNS}) VALUES ({', '.join('?' * 11)})", rows)


class TestPruneBatches:
    async def test_batches_delete_everything_old_and_let_other_writes_in(
        self, db_path: Path
    ) -> None:
        """2,500 old done rows go in three batches; a write submitted meanwhile commits
        between the first and the second; recent and live rows stay."""
        add_rows(db_path, "done", 2500, T0, "old")
        add_rows(db_path, "done", 5, T0 + 100, "new")
        add_rows(db_path, "ready", 5, T0, "live")
        with sqlite3.connect(db_path) as conn:
            conn.execute("CREATE TABLE probe (done_rows INTEGER)")
        engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
        # Another connection holds the write lock, so the first batch waits, submitted.
        lock = sqlite3.connect(db_path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        deleted: list[int] = []
        try:
            async with Writer(engine) as writer, anyio.create_task_group() as tg:

                async def prune() -> None:
                    deleted.append(await prune_done_rows(engine, writer, T0 + 50, limit=1000))

                tg.start_soon(prune)
                await wait_until(lambda: writer.statistics().pending_submissions == 1)
                other = writer.submit(Op(_PROBE))
                lock.rollback()
                await other.wait()
        finally:
            lock.close()
            await engine.dispose()
        assert deleted == [2500]
        with sqlite3.connect(db_path) as conn:
            assert conn.execute("SELECT done_rows FROM probe").fetchall() == [(1505,)]
            left = conn.execute("SELECT state, count(*) FROM messages GROUP BY state").fetchall()
        assert sorted(left) == [("done", 5), ("ready", 5)]

    async def test_nothing_to_prune_submits_nothing(self, db_path: Path) -> None:
        """With no done row older than the cutoff, no batch reaches the writer."""
        add_rows(db_path, "done", 3, T0 + 100, "new")
        engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
        try:
            async with Writer(engine) as writer:
                assert await prune_done_rows(engine, writer, T0 + 50) == 0
                assert writer.statistics().batches_committed == 0
        finally:
            await engine.dispose()
