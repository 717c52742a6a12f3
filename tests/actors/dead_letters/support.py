"""A dead-letter queue under test: a real kernel on a fake clock, with a real SQLite file and
writer (``sql``) or the bounded in-memory store (``memory``), a recording dispatch and a
probe standing in for the retry gate."""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING, Any

from actorgrid import DeadLetterEntry, RetryRecord
from actorgrid.actors._delivery import (
    Delivery,
    insert_op,
    new_message_id,
    scheduled_op,
)
from actorgrid.actors.dead_letters import (
    DeadLetterCount,
    DeadLetterQueue,
    FileDeadLetter,
    ListDeadLetters,
    MemoryDeadLetterStore,
)
from actorgrid.actors.dead_letters._store import dead_letter_insert
from actorgrid.actors.retry import ResetTarget, record_to_row, retry_record_upsert
from actorgrid.kernel import ActorRef, FakeClock, Kernel, KernelConfig
from actorgrid.kernel.testing import ProbeLog
from actorgrid.storage import Op, Writer, create_engine, migrate_async

from ..common import T0

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

MODES = ("sql", "memory")


class Bundle:
    """Everything a test touches; ``add`` files a dead letter the way the broker does."""

    def __init__(self, mode: str, clock: FakeClock, path: Path) -> None:
        self.mode = mode
        self.clock = clock
        self.path = path
        self.dispatched: list[Delivery] = []
        self.dispatch_error: Exception | None = None
        self.gate_log = ProbeLog()
        self.engine: AsyncEngine | None = None
        self.writer: Writer | None = None
        self.memory: MemoryDeadLetterStore | None = None
        self.kernel: Kernel
        self.dlq: ActorRef[Any]

    async def dispatch(self, delivery: Delivery) -> None:
        """The broker's dispatch, recorded (and failing when ``dispatch_error`` is set)."""
        if self.dispatch_error is not None:
            raise self.dispatch_error
        self.dispatched.append(delivery)

    @property
    def resets(self) -> list[tuple[str, str]]:
        """The targets the gate was told to reset, in order."""
        return [
            (m.target_type, m.target_id)
            for m in self.gate_log.messages
            if isinstance(m, ResetTarget)
        ]

    async def add(self, **kwargs: Any) -> str:
        """File one dead letter at the clock's current time; return its id.

        SQL mode: the message row (state ``dead``), the dead letter and the target's retry
        record in one transaction, as the broker writes them. Memory mode: a tell.
        Keywords: see :meth:`add_many`.
        """
        [dead_letter_id] = await self.add_many(1, **kwargs)
        return dead_letter_id

    async def add_many(
        self,
        count: int,
        *,
        topic: str = "orders",
        target: tuple[str, str] | None = None,
        reason: str = "exhausted",
        error_type: str | None = "ValueError",
        error_message: str = "boom",
        payload: bytes = b"\x93\x01\x02\x03",
        headers: dict[str, str] | None = None,
        attempts: int = 6,
        durable: bool = True,
        with_record: bool = True,
    ) -> list[str]:
        """File ``count`` dead letters at the clock's current time (SQL: one transaction)."""
        now = self.clock.now()
        ids: list[str] = []
        ops: list[Op] = []
        for _ in range(count):
            message_id = new_message_id()
            target_type, target_id = target or (topic, message_id)
            d = Delivery(
                id=message_id,
                topic=topic,
                target_type=target_type,
                target_id=target_id,
                payload=payload,
                headers=headers if headers is not None else {"trace": message_id[:8]},
                created_at=now - 100.0,
                durable=durable and self.mode == "sql",
                attempts=attempts,
                last_error=f"{error_type}: {error_message}",
            )
            record = RetryRecord(target_type, target_id, attempt_count=attempts, version=attempts)
            row = record_to_row(record, now)
            ids.append(new_message_id())
            fields: dict[str, Any] = {
                "dead_letter_id": ids[-1],
                "reason": reason,
                "error_type": error_type,
                "error_message": error_message,
                "traceback": "Traceback (most recent call last):\n  ...\nValueError: boom",
                "retry_record": row if with_record else None,
                "now": now,
            }
            entry = DeadLetterEntry.from_delivery(d, **fields)
            if self.writer is None:
                await self.dlq.tell(FileDeadLetter(entry))
                continue
            if d.durable:
                ops += [insert_op(d, d.created_at), scheduled_op(d, now, now, state="dead")]
            ops.append(dead_letter_insert(entry))
            if with_record:
                ops.append(Op(retry_record_upsert("sqlite"), row))
        if self.writer is not None:
            await self.writer.write(*ops)
        else:
            await self.dlq.ask(DeadLetterCount())
        return ids

    async def all_entries(self) -> list[DeadLetterEntry]:
        """Every dead letter, newest first."""
        page = await self.dlq.ask(ListDeadLetters(limit=1000))
        return list(page.entries)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run a read query on the database file (SQL mode) with plain sqlite3."""
        with contextlib.closing(sqlite3.connect(self.path)) as conn:
            return conn.execute(sql, args).fetchall()

    async def snapshot(self) -> tuple[Any, ...]:
        """Everything a request could change: entries, dispatches, resets, and the tables."""
        tables: tuple[Any, ...] = ()
        if self.mode == "sql":
            tables = (
                self.query("SELECT * FROM messages ORDER BY id"),
                self.query("SELECT * FROM dead_letters ORDER BY id"),
                self.query("SELECT * FROM retry_records ORDER BY id"),
            )
        return (
            await self.all_entries(),
            [d.id for d in self.dispatched],
            list(self.resets),
            tables,
        )


@contextlib.asynccontextmanager
async def open_bundle(
    tmp_path: Path,
    mode: str,
    *,
    memory_capacity: int = 10_000,
    gate: bool = True,
) -> AsyncIterator[Bundle]:
    """Start a kernel with the dead-letter queue (and a gate probe) in ``mode``."""
    clock = FakeClock(T0)
    bundle = Bundle(mode, clock, tmp_path / "dlq.db")
    async with contextlib.AsyncExitStack() as stack:
        if mode == "sql":
            url = f"sqlite+aiosqlite:///{bundle.path}"
            await migrate_async(url)
            engine = create_engine(url)
            stack.push_async_callback(engine.dispose)
            bundle.engine = engine
            bundle.writer = await stack.enter_async_context(Writer(engine))
        else:
            bundle.memory = MemoryDeadLetterStore(memory_capacity)
        kernel = await stack.enter_async_context(
            Kernel(KernelConfig(strict_messages=True), clock=clock)
        )
        bundle.kernel = kernel
        gate_ref: ActorRef[Any] | None = None
        if gate:
            gate_ref = await kernel.spawn(bundle.gate_log.factory, name="retry-gate")

        def factory() -> DeadLetterQueue:
            return DeadLetterQueue(
                engine=bundle.engine,
                writer=bundle.writer,
                clock=clock,
                dispatch=bundle.dispatch,
                gate=gate_ref,
                memory_capacity=memory_capacity,
                memory=bundle.memory,
            )

        bundle.dlq = await kernel.spawn(factory, name="dead-letters")
        yield bundle
