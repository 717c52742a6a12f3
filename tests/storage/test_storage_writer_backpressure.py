"""The writer's backpressure: past ``max_pending_ops`` submitters that can wait do."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import anyio
import pytest

from actorgrid.kernel.testing import settle, wait_until
from actorgrid.storage import InvalidStorageArgument, Op, Writer, create_engine

from .test_storage_writer import INSERT_RECORD, record, records

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine


async def test_a_locked_database_holds_submitters_back(db_path: Path, engine: AsyncEngine) -> None:
    fast = create_engine(f"sqlite+aiosqlite:///{db_path}", busy_timeout_ms=0)
    blocker = sqlite3.connect(db_path, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        async with Writer(fast, retry_initial=0.005, retry_max=0.01, max_pending_ops=3) as w:
            rooms = [w.has_room]
            for key in "abc":
                w.submit(Op(INSERT_RECORD, record(key)))
                rooms.append(w.has_room)
            assert rooms == [True, True, True, False]
            waited = anyio.Event()

            async def submitter() -> None:
                await w.wait_for_room()
                w.submit(Op(INSERT_RECORD, record("d")))
                waited.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(submitter)
                await wait_until(lambda: w.statistics().retries >= 2)
                await settle()
                assert not waited.is_set()
                assert w.statistics().pending_ops == 3
                blocker.execute("ROLLBACK")
            await w.flush()
        assert sorted(await records(engine)) == ["a", "b", "c", "d"]
    finally:
        blocker.close()
        await fast.dispose()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
async def test_a_bad_bound_is_refused(engine: AsyncEngine, bad: object) -> None:
    with pytest.raises(InvalidStorageArgument):
        Writer(engine, max_pending_ops=bad)  # type: ignore[arg-type]
