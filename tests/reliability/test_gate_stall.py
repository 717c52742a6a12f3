"""A stalled retry gate delays work, it never strands it.

Another connection holds SQLite's write lock for longer than any internal ask used to wait
(5 s) while the gate is flushing, and a handler fails meanwhile: its failure must wait for
the gate, not time out and drop the delivery. When the lock goes, every message continues
and the retry records agree with the message rows. Real seconds: this is a real lock on a
real file, held past a real deadline.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import anyio
import pytest

from actorgrid import RetryPolicyConfig, Runtime, RuntimeConfig, StorageSettings
from actorgrid.kernel.testing import wait_until

if TYPE_CHECKING:
    from pathlib import Path

    from actorgrid import DeliveryContext

pytestmark = pytest.mark.slow

LOCK_SECONDS = 6.0  # longer than the 5 s the gate asks used to allow


async def test_failures_wait_for_a_locked_database(tmp_path: Path) -> None:
    path = tmp_path / "stall.db"
    config = RuntimeConfig(
        storage=StorageSettings(url=f"sqlite+aiosqlite:///{path}"),
        retry=RetryPolicyConfig(base_wait_minutes=0.005, early_wait_minutes=0.0),
    )
    calls: dict[str, int] = {}
    release = {"m2": anyio.Event(), "m3": anyio.Event()}

    async def handler(payload: dict[str, str], ctx: DeliveryContext) -> None:
        name = payload["n"]
        calls[name] = calls.get(name, 0) + 1
        if calls[name] == 1:
            await release[name].wait()
            raise RuntimeError(f"first attempt of {name} fails")

    async with Runtime(config) as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler, concurrency=2, max_in_flight=2)
        for name in ("m2", "m3"):
            await rt.publish("jobs", {"n": name}, target=("job", name))
        await wait_until(lambda: calls == {"m2": 1, "m3": 1})
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            release["m2"].set()  # the gate holds m2's record; the writer is stuck
            await wait_until(lambda: rt.statistics().failed == 1)
            async with anyio.create_task_group() as tg:
                tg.start_soon(rt.flush)  # the gate now waits for the writer
                await anyio.sleep(0.2)
                release["m3"].set()  # m3's RecordFailure queues behind the flush
                await anyio.sleep(LOCK_SECONDS)
                lock.rollback()
        finally:
            lock.close()
        await wait_until(lambda: calls == {"m2": 2, "m3": 2}, timeout=30)
        assert await rt.drain(10.0)
        for name in ("m2", "m3"):
            record = await rt.retry_record("job", name)
            assert record is not None
            assert record.attempt_count == 0  # the second attempt succeeded: cycle ended
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT target_id, state, attempts FROM messages ORDER BY 1").fetchall()
        records = conn.execute(
            "SELECT target_id, attempt_count FROM retry_records ORDER BY 1"
        ).fetchall()
    assert rows == [("m2", "done", 1), ("m3", "done", 1)]
    assert records == [("m2", 0), ("m3", 0)]


async def test_drain_waits_for_an_ack_stuck_at_the_gate(tmp_path: Path) -> None:
    """A handler returned, but its ack waits for the gate (busy flushing into a locked
    database): the delivery is still in flight, and ``drain`` says so."""
    path = tmp_path / "drain.db"
    config = RuntimeConfig(storage=StorageSettings(url=f"sqlite+aiosqlite:///{path}"))
    calls: dict[str, int] = {}
    release = {"fail": anyio.Event(), "ok": anyio.Event()}

    async def handler(payload: dict[str, str], ctx: DeliveryContext) -> None:
        name = payload["n"]
        calls[name] = calls.get(name, 0) + 1
        await release[name].wait()
        if name == "fail" and calls[name] == 1:
            raise RuntimeError("fails once")

    async with Runtime(config) as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler, concurrency=2, max_in_flight=2)
        # A target of its own: its success must be recorded at the gate.
        await rt.publish("jobs", {"n": "fail"}, target=("job", "fail"))
        await rt.publish("jobs", {"n": "ok"}, target=("job", "ok"))
        await wait_until(lambda: calls == {"fail": 1, "ok": 1})
        lock = sqlite3.connect(path, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            release["fail"].set()
            await wait_until(lambda: rt.statistics().failed == 1)
            async with anyio.create_task_group() as tg:
                tg.start_soon(rt.flush)  # the gate waits for the locked writer
                await anyio.sleep(0.2)
                release["ok"].set()  # the handler returns; its ack asks the gate
                drained = await rt.drain(0.5)
                lock.rollback()
        finally:
            lock.close()
        assert drained is False
        assert await rt.drain(10.0)
