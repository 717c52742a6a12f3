"""Publishing without waiting: nothing published before ``subscribe`` is left behind."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from actorgrid import StorageSettings
from actorgrid.kernel.testing import wait_until
from actorgrid.storage import WriteRejected

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory


async def test_publish_nowait_before_subscribe_is_delivered_once(
    runtimes: RuntimeFactory,
) -> None:
    """The writer commits later than the subscription's recovery read (a slow group commit):
    every message still reaches the handler in this run, and exactly once."""
    seen: list[int] = []

    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        seen.append(payload["n"])

    slow_commit = StorageSettings(url=runtimes.url, max_delay=0.2)
    async with runtimes(storage=slow_commit) as rt:
        rt.declare_topic("jobs")
        for n in range(50):
            rt.publish_nowait("jobs", {"n": n})
        await rt.subscribe("jobs", handler)
        for n in range(50, 60):  # while the recovery read may still be paging
            rt.publish_nowait("jobs", {"n": n})
        await wait_until(lambda: len(seen) >= 60)
        assert await rt.drain(5.0)
        await rt.flush()
    assert sorted(seen) == list(range(60))
    assert runtimes.query("SELECT state, COUNT(*) FROM messages GROUP BY state") == [("done", 60)]


async def test_publish_nowait_gives_a_receipt_of_the_commit(runtimes: RuntimeFactory) -> None:
    """The receipt says when the row is committed, and a rejected write is an error the
    caller holds, not only a log line."""

    async def handler(payload: object, ctx: DeliveryContext) -> None:
        pass

    async with runtimes() as rt:
        rt.declare_topic("jobs")
        rt.declare_topic("fragile")
        rt.declare_topic("quick", durable=False)
        await rt.subscribe("jobs", handler)
        await rt.subscribe("quick", handler)
        ok = rt.publish_nowait("jobs", 1)
        assert ok.durable
        await ok.wait()
        assert (ok.done, ok.error) == (True, None)
        assert runtimes.query("SELECT COUNT(*) FROM messages WHERE id = ?", ok.id) == [(1,)]
        quick = rt.publish_nowait("quick", 2)
        assert (quick.durable, quick.done, quick.error) == (False, True, None)
        await quick.wait()
        with sqlite3.connect(runtimes.path) as conn:  # a real, permanent SQLite error
            conn.execute(
                "CREATE TRIGGER reject BEFORE INSERT ON messages WHEN NEW.topic = 'fragile' "
                "BEGIN SELECT RAISE(ABORT, 'no fragile rows'); END"
            )
        bad = rt.publish_nowait("fragile", 3)
        with pytest.raises(WriteRejected):
            await bad.wait()
        assert bad.done
        assert isinstance(bad.error, WriteRejected)
        assert "no fragile rows" in str(bad.error.cause)
        assert runtimes.query("SELECT COUNT(*) FROM messages WHERE id = ?", bad.id) == [(0,)]
