"""The retry_records SQL path: row conversion, the version-guarded upsert, SqlRetryStore."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import registry
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql import ClauseElement

from actorgrid import (
    Decision,
    InvalidRetryPolicy,
    InvalidTarget,
    RetryPolicyConfig,
    RetryPolicyManager,
    RetryRecord,
    SqlRetryStore,
    UnsupportedDialect,
)
from actorgrid.actors.retry import (
    record_to_row,
    retry_record_delete,
    retry_record_upsert,
    row_to_record,
)
from actorgrid.kernel import FakeClock
from actorgrid.storage import Base, RetryRecordRow

from ..common import MIN, T0

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

TABLE = Base.metadata.tables["retry_records"]


async def open_engine(path: Path) -> AsyncEngine:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return engine


@pytest.fixture(name="db_path")
def _db_path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


@pytest.fixture(name="engine")
async def _engine(db_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await open_engine(db_path)
    yield engine
    await engine.dispose()


def sample(
    version: int = 3, attempts: int = 2, policy: RetryPolicyConfig | None = None
) -> RetryRecord:
    return RetryRecord(
        "entity",
        "entity-123",
        attempt_count=attempts,
        early_retry_used=True,
        last_attempt_at=T0 + 20 * MIN,
        last_success_at=T0 - 5.5,
        next_allowed_at=T0 + 50 * MIN,
        last_explicit_early_granted_at=T0 + 20 * MIN,
        policy=policy if policy is not None else RetryPolicyConfig(backoff="exponential"),
        version=version,
    )


async def stored_rows(engine: AsyncEngine) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(TABLE).order_by(TABLE.c.target_id))
        return [dict(row) for row in result.mappings()]


class TestRowConversion:
    """record_to_row and row_to_record."""

    def test_round_trip(self) -> None:
        """A record survives conversion to a row and back, policy included."""
        record = sample()
        row = record_to_row(record, now=T0)
        assert row["updated_at"] == T0
        assert row["policy_snapshot"]["backoff"] == "exponential"
        assert set(row) == {c.name for c in TABLE.columns} - {"id"}
        assert row_to_record(row) == record
        empty = RetryRecord("entity", "x")
        assert row_to_record(record_to_row(empty, now=T0)) == empty

    def test_snapshots_are_shared(self) -> None:
        """Equal stored snapshots decode to one shared config object."""
        rows = [record_to_row(sample(policy=RetryPolicyConfig(base_retries=1)), T0)]
        rows.append(dict(rows[0], policy_snapshot=dict(rows[0]["policy_snapshot"])))
        first, second = (row_to_record(row) for row in rows)
        assert first.policy is second.policy
        assert first.policy == RetryPolicyConfig(base_retries=1)

    def test_seed_snapshot_and_nulls(self) -> None:
        """A partial snapshot takes defaults; null counters read as zero."""
        row = record_to_row(RetryRecord("entity", "x"), T0)
        row.update(attempt_count=None, version=None, policy_snapshot={"base_wait_minutes": 45})
        record = row_to_record(row)
        assert (record.attempt_count, record.version) == (0, 0)
        assert record.policy == RetryPolicyConfig(base_wait_minutes=45)

    def test_invalid_snapshot_raises(self) -> None:
        """A stored snapshot with an invalid value raises InvalidRetryPolicy."""
        row = record_to_row(sample(), T0)
        row["policy_snapshot"] = {"base_retries": 4, "max_retries": 1}
        with pytest.raises(InvalidRetryPolicy) as info:
            row_to_record(row)
        assert info.value.field == "max_retries"


class TestStatements:
    """The upsert and delete statements are built once and stay dialect-neutral."""

    def test_built_once_per_dialect(self) -> None:
        """The same statement object comes back, so the writer can batch it."""
        assert retry_record_upsert("sqlite") is retry_record_upsert("sqlite")
        assert retry_record_upsert("postgresql") is retry_record_upsert("postgresql")
        assert retry_record_upsert("sqlite") is not retry_record_upsert("postgresql")
        assert retry_record_delete() is retry_record_delete()

    @pytest.mark.parametrize("name", ["sqlite", "postgresql"])
    def test_upsert_is_version_guarded(self, name: str) -> None:
        """The upsert targets the unique key and only updates from a newer version."""
        statement = retry_record_upsert(name)
        assert isinstance(statement, ClauseElement)
        compiled = statement.compile(dialect=registry.load(name)())
        text = " ".join(str(compiled).split())
        assert "ON CONFLICT (target_type, target_id) DO UPDATE SET" in text
        assert "WHERE excluded.version > retry_records.version" in text

    def test_unsupported_dialect(self) -> None:
        """Any other dialect raises UnsupportedDialect naming the supported ones."""
        with pytest.raises(UnsupportedDialect, match="sqlite, postgresql"):
            retry_record_upsert("mysql")


class TestVersionGuard:
    """A stale write never overwrites newer state."""

    async def test_older_version_is_ignored(self, engine: AsyncEngine) -> None:
        """v5 then v4 leaves v5; v6 then replaces it; equal versions do not rewrite."""
        upsert = retry_record_upsert(engine.dialect.name)
        async with engine.begin() as conn:
            await conn.execute(upsert, record_to_row(sample(version=5, attempts=5), T0))
            await conn.execute(upsert, record_to_row(sample(version=4, attempts=4), T0 + 1))
        [row] = await stored_rows(engine)
        assert (row["version"], row["attempt_count"], row["updated_at"]) == (5, 5, T0)
        async with engine.begin() as conn:
            await conn.execute(upsert, record_to_row(sample(version=5, attempts=1), T0 + 2))
            await conn.execute(upsert, record_to_row(sample(version=6, attempts=6), T0 + 3))
        [row] = await stored_rows(engine)
        assert (row["version"], row["attempt_count"], row["updated_at"]) == (6, 6, T0 + 3)

    async def test_executemany_batch_keeps_newest(self, engine: AsyncEngine) -> None:
        """In one executemany, a late stale row for a key loses to the newer one."""
        other = RetryRecord("entity", "other", attempt_count=1, version=1)
        params = [
            record_to_row(sample(version=7, attempts=3), T0),
            record_to_row(other, T0),
            record_to_row(sample(version=2, attempts=1), T0),
        ]
        async with engine.begin() as conn:
            await conn.execute(retry_record_upsert("sqlite"), params)
        rows = await stored_rows(engine)
        assert [(r["target_id"], r["version"], r["attempt_count"]) for r in rows] == [
            ("entity-123", 7, 3),
            ("other", 1, 1),
        ]

    async def test_delete_statement(self, engine: AsyncEngine) -> None:
        """The delete statement removes exactly the named key."""
        async with engine.begin() as conn:
            await conn.execute(
                retry_record_upsert("sqlite"),
                [record_to_row(sample(), T0), record_to_row(RetryRecord("entity", "b"), T0)],
            )
            await conn.execute(
                retry_record_delete(), {"target_type": "entity", "target_id": "entity-123"}
            )
        assert [r["target_id"] for r in await stored_rows(engine)] == ["b"]


class TestSqlRetryStore:
    """SqlRetryStore: one round trip per call, same semantics as memory."""

    async def test_put_get_delete(self, engine: AsyncEngine) -> None:
        """A stored record reads back equal; delete forgets it; missing keys give None."""
        store = SqlRetryStore(engine, clock=FakeClock(T0))
        assert await store.get("entity", "entity-123") is None
        record = sample()
        await store.put(record)
        assert await store.get("entity", "entity-123") == record
        [row] = await stored_rows(engine)
        assert row["updated_at"] == T0
        await store.delete("entity", "entity-123")
        assert await store.get("entity", "entity-123") is None
        await store.delete("entity", "entity-123")

    async def test_stale_put_is_ignored(self, engine: AsyncEngine) -> None:
        """Putting an older version keeps the newer stored record."""
        store = SqlRetryStore(engine)
        await store.put(sample(version=4, attempts=4))
        await store.put(sample(version=3, attempts=3))
        stored = await store.get("entity", "entity-123")
        assert stored is not None
        assert (stored.version, stored.attempt_count) == (4, 4)

    @pytest.mark.parametrize(("target_type", "target_id"), [("", "x"), ("e", "x" * 256)])
    async def test_bad_keys_write_nothing(
        self, engine: AsyncEngine, target_type: str, target_id: str
    ) -> None:
        """Bad keys raise InvalidTarget on every method and nothing reaches the table."""
        store = SqlRetryStore(engine)
        with pytest.raises(InvalidTarget):
            await store.put(RetryRecord(target_type, target_id, attempt_count=1))
        with pytest.raises(InvalidTarget):
            await store.get(target_type, target_id)
        with pytest.raises(InvalidTarget):
            await store.delete(target_type, target_id)
        async with engine.connect() as conn:
            assert (await conn.scalar(select(func.count()).select_from(TABLE))) == 0

    async def test_manager_over_sql_store(self, engine: AsyncEngine) -> None:
        """The manager persists every change, including a granted early retry."""
        clock = FakeClock(T0)
        manager = RetryPolicyManager(store=SqlRetryStore(engine, clock), clock=clock)
        assert (await manager.record_attempt("entity", "ok", success=True)).version == 1
        assert await manager.get("entity", "ok") is None
        await manager.record_attempt("entity", "entity-123", success=False)
        clock.advance(20 * MIN)
        assert (await manager.can_retry("entity", "entity-123", explicit=True)).early
        stored = await manager.get("entity", "entity-123")
        assert stored is not None
        assert (stored.early_retry_used, stored.version) == (True, 2)
        assert stored.policy == manager.config
        await manager.reset("entity", "entity-123")
        assert await manager.get("entity", "entity-123") is None

    async def test_state_survives_engine_restart(self, db_path: Path) -> None:
        """Dispose the engine, open the same file again: decisions continue where they were."""
        clock = FakeClock(T0)
        engine = await open_engine(db_path)
        try:
            manager = RetryPolicyManager(store=SqlRetryStore(engine, clock), clock=clock)
            await manager.record_attempt("entity", "entity-123", success=False)
            clock.advance(20 * MIN)
            assert (await manager.can_retry("entity", "entity-123", explicit=True)).early
            await manager.record_attempt("entity", "entity-123", success=False)
        finally:
            await engine.dispose()

        engine = await open_engine(db_path)
        try:
            custom = RetryPolicyConfig(base_wait_minutes=60, early_wait_minutes=60)
            manager = RetryPolicyManager(custom, SqlRetryStore(engine, clock), clock)
            clock.set(T0 + 49 * MIN)
            assert await manager.can_retry("entity", "entity-123", explicit=True) == Decision(
                False, "base", "early_retry_used", T0 + 50 * MIN, 3
            )
            clock.set(T0 + 50 * MIN)
            assert await manager.can_retry("entity", "entity-123") == Decision(
                True, "base", "window_open", None, 3
            )
            record = await manager.get("entity", "entity-123")
            assert record is not None
            assert record.policy == RetryPolicyConfig()
            assert record.version == 3
        finally:
            await engine.dispose()

    async def test_orm_model_reads_the_row(self, engine: AsyncEngine) -> None:
        """Rows written through the upsert are ordinary RetryRecordRow rows."""
        await SqlRetryStore(engine, FakeClock(T0)).put(sample())
        async with engine.connect() as conn:
            row = (await conn.execute(select(RetryRecordRow.__table__))).mappings().one()
        assert msgspec.convert(row["policy_snapshot"], RetryPolicyConfig) == sample().policy
        assert row["id"] is not None
