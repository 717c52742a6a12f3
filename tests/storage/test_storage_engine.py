"""The engine factory: SQLite pragmas on every connection, JSON columns, bad URLs and options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from actorgrid.storage import (
    DEFAULT_URL,
    Base,
    InvalidDatabaseURL,
    InvalidStorageArgument,
    StorageError,
    create_engine,
)

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine


async def _pragmas(engine: AsyncEngine) -> dict[str, Any]:
    names = ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
    async with engine.connect() as conn:
        return {name: (await conn.exec_driver_sql(f"PRAGMA {name}")).scalar_one() for name in names}


class TestSqlitePragmas:
    """Every SQLite connection is set up by the connect event."""

    async def test_file_database_gets_wal_normal_busy_timeout_and_foreign_keys(
        self, db_path: Path
    ) -> None:
        """A file database runs in WAL with synchronous=NORMAL, the busy timeout and FKs on."""
        engine = create_engine(f"sqlite+aiosqlite:///{db_path}", busy_timeout_ms=1234)
        try:
            pragmas = await _pragmas(engine)
        finally:
            await engine.dispose()
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 1,
            "busy_timeout": 1234,
            "foreign_keys": 1,
        }
        assert db_path.is_file()  # noqa: ASYNC240 - a single stat of a local file

    async def test_every_pooled_connection_is_set_up(self, db_path: Path) -> None:
        """A second connection opened while the first is checked out gets the pragmas too."""
        engine = create_engine(f"sqlite+aiosqlite:///{db_path}", busy_timeout_ms=77)
        try:
            async with engine.connect() as first, engine.connect() as second:
                values = [
                    (await c.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
                    for c in (first, second)
                ]
        finally:
            await engine.dispose()
        assert values == [77, 77]

    async def test_memory_database_skips_wal(self) -> None:
        """An in-memory database keeps its memory journal but gets the other pragmas."""
        engine = create_engine("sqlite+aiosqlite:///:memory:")
        try:
            pragmas = await _pragmas(engine)
        finally:
            await engine.dispose()
        assert pragmas == {
            "journal_mode": "memory",
            "synchronous": 1,
            "busy_timeout": 5000,
            "foreign_keys": 1,
        }

    def test_default_url_is_a_sqlite_file_in_the_working_directory(self) -> None:
        """The default URL is the aiosqlite file ./actorgrid.db."""
        assert DEFAULT_URL == "sqlite+aiosqlite:///./actorgrid.db"


class TestJsonColumns:
    """JSON columns round-trip through the engine's serializer."""

    async def test_json_value_round_trips(self, db_path: Path) -> None:
        """A dict written to a JSON column reads back equal, stored as compact JSON text."""
        engine = create_engine(f"sqlite+aiosqlite:///{db_path}")
        table = Base.metadata.tables["retry_records"]
        snapshot = {"base_wait": 1800.0, "jitter": "none", "nested": [1, 2, {"a": None}]}
        try:
            async with engine.begin() as conn:
                await conn.run_sync(table.create)
                await conn.execute(
                    sa.insert(table),
                    {
                        "target_type": "entity",
                        "target_id": "e-1",
                        "policy_snapshot": snapshot,
                        "updated_at": 1.0,
                    },
                )
            async with engine.connect() as conn:
                value = (await conn.execute(sa.select(table.c.policy_snapshot))).scalar_one()
                text = (
                    await conn.exec_driver_sql("SELECT policy_snapshot FROM retry_records")
                ).scalar_one()
        finally:
            await engine.dispose()
        assert value == snapshot
        assert text == '{"base_wait":1800.0,"jitter":"none","nested":[1,2,{"a":null}]}'


class TestBadInput:
    """Unusable URLs and options raise typed errors that say what is wrong."""

    @pytest.mark.parametrize("url", ["", "   ", None, 42])
    def test_empty_or_non_string_url(self, url: Any) -> None:
        """An empty or non-string URL is an InvalidDatabaseURL."""
        with pytest.raises(InvalidDatabaseURL, match="non-empty URL string"):
            create_engine(url)

    def test_unparsable_url(self) -> None:
        """Text that is not a SQLAlchemy URL is an InvalidDatabaseURL."""
        with pytest.raises(InvalidDatabaseURL, match="dialect\\+driver"):
            create_engine("not a url")

    def test_unknown_backend(self) -> None:
        """An unknown dialect or driver is an InvalidDatabaseURL."""
        with pytest.raises(InvalidDatabaseURL, match="unknown database backend"):
            create_engine("nosuchdb+nosuchdriver://host/db")

    def test_sync_driver_is_refused_with_a_hint(self, db_path: Path) -> None:
        """A sync SQLite URL is refused and the message names the async form."""
        with pytest.raises(InvalidDatabaseURL, match=r"sqlite\+aiosqlite"):
            create_engine(f"sqlite:///{db_path}")

    def test_password_is_masked_in_the_message(self) -> None:
        """The error message never shows a password from the URL."""
        with pytest.raises(InvalidDatabaseURL) as info:
            create_engine("nosuchdb+nosuchdriver://user:s3cret@host/db")
        assert "s3cret" not in str(info.value)
        assert "user:***@host" in str(info.value)

    @pytest.mark.parametrize("value", [-1, 1.5, True, "5000"])
    def test_bad_busy_timeout(self, value: Any) -> None:
        """busy_timeout_ms must be an int >= 0."""
        with pytest.raises(InvalidStorageArgument, match="busy_timeout_ms"):
            create_engine("sqlite+aiosqlite:///:memory:", busy_timeout_ms=value)

    def test_errors_share_the_storage_root(self) -> None:
        """Both errors derive from StorageError."""
        assert issubclass(InvalidDatabaseURL, StorageError)
        assert issubclass(InvalidStorageArgument, StorageError)
