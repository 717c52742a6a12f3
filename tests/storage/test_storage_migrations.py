"""Alembic migrations: upgrade, downgrade, no drift from the models, the CLI, bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from actorgrid.storage import (
    Base,
    InvalidDatabaseURL,
    MigrationError,
    create_engine,
    current_revision,
    current_revision_async,
    downgrade,
    downgrade_async,
    migrate,
    migrate_async,
)
from actorgrid.storage._migrate import script_location

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_TABLES = {
    "retry_records",
    "messages",
    "dead_letters",
    "reference_chunks",
    "analytics_buckets",
}


def head_revision() -> str:
    """Return the head revision of the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()))
    cfg.set_main_option("path_separator", "os")
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


async def table_names(url: str) -> set[str]:
    """Return the names of the tables in the database at ``url``."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await engine.dispose()


class TestUpgradeDowngrade:
    """Upgrade on an empty file, downgrade to base, upgrade again."""

    async def test_upgrade_downgrade_upgrade(self, db_url: str) -> None:
        """Each step leaves exactly the tables and revision it should."""
        assert await current_revision_async(db_url) is None
        await migrate_async(db_url)
        assert await table_names(db_url) == MODEL_TABLES | {"alembic_version"}
        assert await current_revision_async(db_url) == head_revision()

        await downgrade_async(db_url, "base")
        assert await table_names(db_url) == {"alembic_version"}
        assert await current_revision_async(db_url) is None

        await migrate_async(db_url)
        assert await table_names(db_url) == MODEL_TABLES | {"alembic_version"}
        assert await current_revision_async(db_url) == head_revision()

    async def test_upgrade_is_idempotent(self, db_url: str) -> None:
        """Upgrading a database that is already at head changes nothing."""
        await migrate_async(db_url)
        await migrate_async(db_url)
        assert await current_revision_async(db_url) == head_revision()

    def test_sync_functions_outside_an_event_loop(self, db_url: str) -> None:
        """migrate/downgrade/current_revision work from plain sync code."""
        migrate(db_url)
        assert current_revision(db_url) == head_revision()
        downgrade(db_url)
        assert current_revision(db_url) is None

    async def test_sync_functions_refuse_a_running_loop(self, db_url: str) -> None:
        """Inside a running event loop the sync functions say to await the async ones."""
        with pytest.raises(MigrationError, match="migrate_async"):
            migrate(db_url)
        with pytest.raises(MigrationError, match="downgrade_async"):
            downgrade(db_url)
        with pytest.raises(MigrationError, match="current_revision_async"):
            current_revision(db_url)
        assert await table_names(db_url) == set()

    async def test_migrated_connections_keep_foreign_keys_on(self, engine: AsyncEngine) -> None:
        """Migrations switch foreign keys off only for their own run."""
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1


class TestSchemaMatchesModels:
    """The migrated schema and the models never drift apart."""

    async def test_no_difference_between_models_and_migrations(self, engine: AsyncEngine) -> None:
        """compare_metadata finds no difference at all (types compared too)."""

        def diff(conn: Connection) -> list[Any]:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))

        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
        assert differences == []

    async def test_constraint_and_index_names_follow_the_convention(
        self, engine: AsyncEngine
    ) -> None:
        """The unique constraint, foreign key and indexes carry the models' convention names."""

        def names(conn: Connection) -> dict[str, Any]:
            inspector = sa.inspect(conn)
            return {
                "pk": inspector.get_pk_constraint("analytics_buckets"),
                "unique": inspector.get_unique_constraints("retry_records"),
                "fks": inspector.get_foreign_keys("dead_letters"),
                "indexes": {
                    table: sorted(ix["name"] or "" for ix in inspector.get_indexes(table))
                    for table in sorted(MODEL_TABLES)
                },
            }

        async with engine.connect() as conn:
            found = await conn.run_sync(names)
        assert found["unique"] == [
            {
                "name": "uq_retry_records_target_type_target_id",
                "column_names": ["target_type", "target_id"],
            }
        ]
        (fk,) = found["fks"]
        assert fk["name"] == "fk_dead_letters_message_id_messages"
        assert fk["referred_table"] == "messages"
        assert fk["options"] == {"ondelete": "SET NULL"}
        # The buckets' key is their only index: range reads and prune batches walk it.
        assert found["pk"]["name"] == "pk_analytics_buckets"
        assert found["pk"]["constrained_columns"] == [
            "bucket_size",
            "bucket_start",
            "topic",
            "metric",
        ]
        assert found["indexes"] == {
            "analytics_buckets": [],
            "dead_letters": [
                "ix_dead_letters_error_type",
                "ix_dead_letters_message_id",
                "ix_dead_letters_topic_created_at",
            ],
            "messages": [
                "ix_messages_done",
                "ix_messages_ready",
                "ix_messages_scheduled",
                "ix_messages_target_type_target_id",
            ],
            "reference_chunks": ["ix_reference_chunks_source"],
            "retry_records": ["ix_retry_records_updated_at"],
        }

    async def test_constraints_are_enforced(self, engine: AsyncEngine) -> None:
        """The retry key is unique and deleting a message nulls its dead letters' message_id."""
        messages = Base.metadata.tables["messages"]
        dead_letters = Base.metadata.tables["dead_letters"]
        retry_records = Base.metadata.tables["retry_records"]
        record = {"target_type": "entity", "target_id": "e-1", "updated_at": 0.0}
        async with engine.begin() as conn:
            await conn.execute(sa.insert(retry_records), record)
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(sa.insert(retry_records), record)
        common = {"topic": "t", "target_type": "entity", "target_id": "e-1"}
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(messages),
                {
                    "id": "m-1",
                    "payload": b"x",
                    "state": "dead",
                    "available_at": 0.0,
                    "created_at": 0.0,
                    "updated_at": 0.0,
                    **common,
                },
            )
            await conn.execute(
                sa.insert(dead_letters),
                {
                    "id": "d-1",
                    "message_id": "m-1",
                    "envelope": b"x",
                    "reason": "exhausted",
                    "created_at": 0.0,
                    **common,
                },
            )
            await conn.execute(sa.delete(messages).where(messages.c.id == "m-1"))
            remaining = (await conn.execute(sa.select(dead_letters.c.message_id))).all()
        assert remaining == [(None,)]


class TestBoundedQueriesRevision:
    """Revision 0002: the paging and pruning indexes, and done rows aged by available_at."""

    async def test_upgrade_dates_done_rows_by_when_they_were_done(self, db_url: str) -> None:
        """A done row of revision 0001 gets its updated_at as available_at; others keep theirs."""
        await migrate_async(db_url, "0001")
        messages = Base.metadata.tables["messages"]
        common = {"topic": "t", "target_type": "t", "payload": b"x", "created_at": 1.0}
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:
                for state in ("done", "scheduled"):
                    await conn.execute(
                        sa.insert(messages),
                        {
                            "id": state,
                            "target_id": state,
                            "state": state,
                            "available_at": 2.0,
                            "updated_at": 5.0,
                            **common,
                        },
                    )
            await migrate_async(db_url)
            async with engine.connect() as conn:
                query = sa.select(messages.c.id, messages.c.available_at).order_by(messages.c.id)
                rows = (await conn.execute(query)).all()
        finally:
            await engine.dispose()
        assert rows == [("done", 5.0), ("scheduled", 2.0)]

    async def test_downgrade_restores_the_first_revision_indexes(self, db_url: str) -> None:
        """Downgrading to 0001 brings back its two indexes and drops the new ones."""
        await migrate_async(db_url)
        await downgrade_async(db_url, "0001")
        engine = create_engine(db_url)
        try:
            async with engine.connect() as conn:
                names = await conn.run_sync(
                    lambda c: sorted(
                        ix["name"] or "" for ix in sa.inspect(c).get_indexes("messages")
                    )
                )
        finally:
            await engine.dispose()
        assert names == [
            "ix_messages_state_available_at",
            "ix_messages_target_type_target_id",
            "ix_messages_topic",
        ]


class TestAlembicCommandLine:
    """The alembic CLI runs the same migrations from the repository root."""

    def _alembic(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "alembic", *args],
            cwd=REPO_ROOT,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout + result.stderr

    def test_upgrade_with_x_url(self, db_url: str) -> None:
        """`alembic -x url=... upgrade head` migrates that database."""
        output = self._alembic("-x", f"url={db_url}", "upgrade", "head")
        assert "Running upgrade" in output
        assert current_revision(db_url) == head_revision()
        output = self._alembic("-x", f"url={db_url}", "downgrade", "base")
        assert current_revision(db_url) is None

    def test_url_from_environment(self, db_url: str) -> None:
        """Without -x url, ACTORGRID_DATABASE_URL names the database."""
        self._alembic("upgrade", "head", env={"ACTORGRID_DATABASE_URL": db_url})
        assert current_revision(db_url) == head_revision()


class TestPackaging:
    """The migrations are found in the installed package, not in the working directory."""

    def test_script_location_has_env_template_and_versions(self) -> None:
        """The package folder holds env.py, script.py.mako and the first revision."""
        location = script_location()
        assert (location / "env.py").is_file()
        assert (location / "script.py.mako").is_file()
        assert (location / "versions" / "0001_initial.py").is_file()

    def test_migrate_does_not_depend_on_the_working_directory(
        self, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """migrate() works from a folder without alembic.ini."""
        monkeypatch.chdir(tmp_path)
        migrate(db_url)
        assert current_revision(db_url) == head_revision()


class TestBadInput:
    """Bad revisions and URLs raise typed errors and change nothing."""

    async def test_unknown_revision(self, db_url: str) -> None:
        """An unknown revision is a MigrationError and leaves the database empty."""
        with pytest.raises(MigrationError, match="nosuchrev"):
            await migrate_async(db_url, "nosuchrev")
        assert await table_names(db_url) == set()

    @pytest.mark.parametrize("revision", ["", "  ", None])
    async def test_empty_revision(self, db_url: str, revision: Any) -> None:
        """An empty or non-string revision is a MigrationError."""
        with pytest.raises(MigrationError, match="non-empty string"):
            await migrate_async(db_url, revision)

    async def test_invalid_url(self) -> None:
        """A sync driver URL is an InvalidDatabaseURL."""
        with pytest.raises(InvalidDatabaseURL):
            await migrate_async("sqlite:///x.db")

    async def test_unreachable_database(self, tmp_path: Path) -> None:
        """A database in a missing folder is a MigrationError naming the folder."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'missing' / 'x.db'}"
        with pytest.raises(MigrationError, match=r"folder .*missing.* does not exist"):
            await migrate_async(url)

    async def test_failed_migration_rolls_back_everything(self, db_url: str, db_path: Path) -> None:
        """A run that fails partway leaves no table of it behind (one transaction)."""
        import sqlite3

        conn = sqlite3.connect(db_path)
        conn.execute("CREATE TABLE dead_letters (id INTEGER)")  # collides with revision 0001
        conn.commit()
        conn.close()
        with pytest.raises(MigrationError, match="already exists"):
            await migrate_async(db_url)
        assert await table_names(db_url) == {"dead_letters"}
        assert await current_revision_async(db_url) is None
