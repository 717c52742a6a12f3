"""The writer's execution plans write exactly what SQLAlchemy Core would write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from actorgrid.storage import Base, Op, Writer, create_engine, migrate_async
from actorgrid.storage._plan import PlanCache

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

RETRY = Base.metadata.tables["retry_records"]
MESSAGES = Base.metadata.tables["messages"]
CHUNKS = Base.metadata.tables["reference_chunks"]

_upsert = sqlite_insert(RETRY)
UPSERT = _upsert.on_conflict_do_update(
    index_elements=["target_type", "target_id"],
    set_={
        name: _upsert.excluded[name]
        for name in ("attempt_count", "early_retry_used", "policy_snapshot", "version")
    },
    where=RETRY.c.version < _upsert.excluded.version,
)
INSERT_READY = sa.insert(MESSAGES).values(state="ready")
INSERT_COMPUTED = sa.insert(MESSAGES).values(created_at=sa.bindparam("b_created") + 1.5)
RESCHEDULE = (
    sa.update(MESSAGES)
    .where(MESSAGES.c.id == sa.bindparam("b_id"))
    .values(state="scheduled", attempts=MESSAGES.c.attempts + 1, available_at=sa.bindparam("b_at"))
)
DELETE_SOME = sa.delete(MESSAGES).where(MESSAGES.c.id.in_(sa.bindparam("ids", expanding=True)))
TEXT_UPDATE = sa.text("UPDATE reference_chunks SET dim = :dim WHERE source = :source")


def retry_row(i: int, version: int) -> dict[str, Any]:
    """Return varied retry_records params: ints for floats, None, bools, JSON shapes."""
    snapshots: list[Any] = [{"base_wait": 1800.0, "i": i}, [1, 2, i], None, {"nested": {"x": [i]}}]
    return {
        "target_type": "entity" if i % 3 else "job",
        "target_id": f"t-{i % 700}",
        "attempt_count": i % 7,
        "early_retry_used": bool(i % 2),
        "last_attempt_at": float(i) if i % 5 else None,
        "last_success_at": i,  # an int for a float column
        "next_allowed_at": 1.5 * i,
        "last_explicit_early_granted_at": None,
        "policy_snapshot": snapshots[i % 4],
        "version": version,
        "updated_at": 0.25 * i,
    }


def message_row(i: int) -> dict[str, Any]:
    """Return messages params without ``state`` (INSERT_READY sets it)."""
    return {
        "id": f"m-{i}",
        "topic": "orders",
        "target_type": "orders",
        "target_id": f"o-{i}",
        "payload": bytes([i % 256]) * 3,
        "headers": {"h": i} if i % 2 else None,
        "available_at": float(i),
        "created_at": 0.0,
        "updated_at": 0.0,
    }


def computed_row(i: int) -> dict[str, Any]:
    """Return messages params for INSERT_COMPUTED (which computes ``created_at`` itself)."""
    row = {**message_row(i), "state": "ready"}
    del row["created_at"]
    return row


def workload() -> list[list[Op]]:
    """Return submissions covering fast, multi-row, constant, expression and slow plans."""
    submissions: list[list[Op]] = [
        [Op(UPSERT, retry_row(i, 1)) for i in range(1100)],  # > 1024: several VALUES chunks
        [Op(UPSERT, retry_row(i, 2)) for i in range(0, 1100, 3)],
        [Op(INSERT_READY, message_row(i)) for i in range(40)],
        [Op(INSERT_COMPUTED, {**computed_row(i), "b_created": float(i)}) for i in range(40, 45)],
        [Op(RESCHEDULE, {"b_id": f"m-{i}", "b_at": 100.0 + i}) for i in range(0, 45, 4)],
        [Op(DELETE_SOME, {"ids": ["m-1", "m-2", "m-41"]})],
        [
            Op(
                sa.insert(CHUNKS),
                {"source": f"s{i}", "text": "t", "embedder": "e", "dim": 3, "created_at": 0.0},
            )
            for i in range(5)
        ],
        [Op(TEXT_UPDATE, {"dim": 8, "source": "s3"})],
    ]
    return submissions


async def dump(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    """Return every row of the three written tables, as SQLite stores them."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with engine.connect() as conn:
        for table in ("retry_records", "messages", "reference_chunks"):
            result = await conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1")
            out[table] = [tuple(row) for row in result]
    return out


class TestSameAsCore:
    """The writer's own parameter handling matches SQLAlchemy's, value for value."""

    async def test_writer_and_core_write_identical_rows(self, tmp_path: Path) -> None:
        """The same submissions through the writer and through Core leave identical tables."""
        engines = {}
        for name in ("writer", "core"):
            url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
            await migrate_async(url)
            engines[name] = create_engine(url)
        try:
            async with Writer(engines["writer"]) as writer:
                for ops in workload():
                    writer.submit(*ops)
                await writer.flush()
                assert writer.statistics().rejected == 0
            async with engines["core"].begin() as conn:
                for ops in workload():
                    for op in ops:
                        await conn.execute(op.statement, dict(op.params))
            written, expected = await dump(engines["writer"]), await dump(engines["core"])
        finally:
            for engine in engines.values():
                await engine.dispose()
        assert written == expected
        rows = [retry_row(i, 1) for i in range(1100)]
        keys = {(row["target_type"], row["target_id"]) for row in rows}
        assert len(expected["retry_records"]) == len(keys)
        assert len(expected["messages"]) == 42

    async def test_column_names_that_need_quoting(self, tmp_path: Path) -> None:
        """Keys with quotes and spaces reach the right columns."""
        metadata = sa.MetaData()
        table = sa.Table(
            "odd",
            metadata,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("it's", sa.String),
            sa.Column('say "hi"', sa.String),
            sa.Column("two words", sa.Float),
        )
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'odd.db'}")
        stmt = sa.insert(table)
        rows = [{"id": i, "it's": f"a{i}", 'say "hi"': f"b{i}", "two words": i} for i in range(3)]
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
            async with Writer(engine) as writer:
                writer.submit(*(Op(stmt, row) for row in rows))
            async with engine.connect() as conn:
                stored = (await conn.execute(sa.select(table).order_by(table.c.id))).all()
        finally:
            await engine.dispose()
        assert [tuple(r) for r in stored] == [(i, f"a{i}", f"b{i}", float(i)) for i in range(3)]


class TestPlanCache:
    """Plans are compiled once per statement and key set."""

    def _prepare(self, cache: PlanCache, *ops: Op) -> list[Any]:
        return cache.prepare_ops(ops)

    def test_same_statement_and_keys_share_a_plan(self) -> None:
        """Two ops with the same statement and keys use one plan; other keys get another."""
        cache = PlanCache(create_engine("sqlite+aiosqlite:///:memory:").dialect)
        (p1, _), (p2, _), (p3, _) = self._prepare(
            cache,
            Op(UPSERT, retry_row(1, 1)),
            Op(UPSERT, retry_row(2, 1)),
            Op(UPSERT, {k: v for k, v in retry_row(3, 1).items() if k != "updated_at"}),
        )
        assert p1 is p2
        assert p3 is not p1
        [(p4, _)] = self._prepare(cache, Op(UPSERT, retry_row(4, 1)))
        assert p4 is p1

    def test_which_plans_are_fast_and_which_use_multi_row_values(self) -> None:
        """Plain inserts/upserts get multi-row VALUES; expressions and IN lists do not."""
        cache = PlanCache(create_engine("sqlite+aiosqlite:///:memory:").dialect)
        items = self._prepare(
            cache,
            Op(UPSERT, retry_row(1, 1)),
            Op(INSERT_READY, message_row(1)),
            Op(INSERT_COMPUTED, {**computed_row(2), "b_created": 1.0}),
            Op(RESCHEDULE, {"b_id": "m-1", "b_at": 1.0}),
            Op(DELETE_SOME, {"ids": ["a"]}),
        )
        shape = [(plan.fast, plan.values_split is not None) for plan, _ in items]
        assert shape == [(True, True), (True, True), (True, False), (True, False), (False, False)]
