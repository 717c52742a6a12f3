"""A stalled database holds publishers back instead of filling memory with pending rows."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import anyio
import pytest

from actorgrid import BrokerFull, StorageSettings
from actorgrid.kernel.testing import settle, wait_until

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..actors.conftest import RuntimeFactory


async def test_publishers_wait_while_the_writer_is_full(runtimes: RuntimeFactory) -> None:
    handled: list[int] = []

    async def handler(n: int, ctx: DeliveryContext) -> None:
        handled.append(n)

    storage = StorageSettings(url=runtimes.url, max_pending_ops=4)
    async with runtimes(storage=storage) as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler)
        await rt.publish("jobs", -1)  # the schema and the connection are warm
        await wait_until(lambda: handled == [-1])
        await rt.flush()
        blocker = sqlite3.connect(runtimes.path, isolation_level=None, timeout=0)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            for n in range(4):
                rt.publish_nowait("jobs", n)
            with pytest.raises(BrokerFull) as info:
                rt.publish_nowait("jobs", 4)
            assert info.value.writer_full
            writer = rt.writer
            assert writer is not None
            await wait_until(lambda: len(handled) == 5)  # their done rows wait too
            await settle()
            before = writer.statistics().pending_ops
            assert before >= 4

            async with anyio.create_task_group() as tg:
                tg.start_soon(rt.publish, "jobs", 5)
                await settle()
                # The publish waits for room: its row is not queued behind the lock.
                assert writer.statistics().pending_ops == before
                blocker.execute("ROLLBACK")
        finally:
            blocker.close()
        await wait_until(lambda: len(handled) == 6)
        await rt.flush()
    assert sorted(handled) == [-1, 0, 1, 2, 3, 5]
    assert runtimes.query("SELECT COUNT(*) FROM messages WHERE state = 'done'") == [(6,)]
