"""Alembic environment for actorgrid: async engine, SQLite batch mode, one transaction per run.

Where the connection comes from, first match wins:

1. ``config.attributes["connection"]``: a sync-facing connection handed in by
   ``actorgrid.storage.migrate_async`` (``AsyncConnection.run_sync``); used as is.
2. ``config.attributes["url"]`` (set by ``actorgrid.storage.migrate``), then
   ``alembic -x url=...``, then ``$ACTORGRID_DATABASE_URL``, then the default URL: an async
   engine is created for it and disposed of afterwards.

On SQLite the whole run is one ``BEGIN IMMEDIATE`` transaction with foreign keys switched off
(as SQLite's own ALTER TABLE procedure requires, so that a batch "move and copy" of a table
cannot fire ``ON DELETE`` actions in other tables); ``PRAGMA foreign_key_check`` must come back
empty before it commits.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig
from typing import TYPE_CHECKING

from alembic import context
from alembic.util import CommandError

from actorgrid.storage import DEFAULT_URL, Base, create_engine

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

URL_ENV_VAR = "ACTORGRID_DATABASE_URL"

config = context.config
target_metadata = Base.metadata

if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    """Return the URL to migrate, by the precedence in the module docstring."""
    url = config.attributes.get("url")
    if url:
        return str(url)
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    return os.environ.get(URL_ENV_VAR) or DEFAULT_URL


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_sqlite(connection: Connection) -> None:
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            _configure_and_run(connection)
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise CommandError(f"migration left foreign key violations: {broken[:5]}")
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
    finally:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


def do_run_migrations(connection: Connection) -> None:
    """Run the migrations on ``connection`` in one transaction (the caller's, if it has one)."""
    if connection.in_transaction():
        _configure_and_run(connection)
    elif connection.dialect.name == "sqlite":
        _run_sqlite(connection)
    else:
        with connection.begin():
            _configure_and_run(connection)


async def run_async_migrations(url: str) -> None:
    """Create an async engine for ``url`` and run the migrations over one of its connections."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    """Emit the migration SQL as a script (``alembic upgrade head --sql``)."""
    url = database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations against a live database."""
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations(database_url()))
    else:
        do_run_migrations(connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
