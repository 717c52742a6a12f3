"""Run the packaged alembic migrations programmatically (no alembic.ini needed).

The async functions share one async connection with alembic (its "connection sharing with
asyncio" recipe: ``AsyncConnection.run_sync``), so they work inside a running event loop.
The sync functions run the async ones in a fresh event loop and refuse to run inside one.
alembic (some 10 MB of memory) is imported by the functions that use it, not with this
module, so that a runtime without a database, or one that does not migrate, never loads it.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import actorgrid.migrations

from ._engine import DEFAULT_URL, create_engine, missing_sqlite_folder
from ._exceptions import MigrationError
from ._reading import read_connection

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from alembic.config import Config
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = (
    "current_revision",
    "current_revision_async",
    "downgrade",
    "downgrade_async",
    "engine_revision",
    "head_revision",
    "migrate",
    "migrate_async",
    "script_location",
)


def script_location() -> Path:
    """Return the folder of the installed ``actorgrid.migrations`` package (env.py, versions/)."""
    return Path(actorgrid.migrations.__file__).resolve().parent


def head_revision() -> str | None:
    """Return the newest revision of the packaged migrations (what ``migrate`` upgrades to)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(script_location()).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    head: str | None = ScriptDirectory.from_config(cfg).get_current_head()
    return head


async def engine_revision(engine: AsyncEngine) -> str | None:
    """Return the revision the database behind ``engine`` is at (``None``: never migrated),
    on a pooled read connection of that engine.

    Raises:
        Exception: the driver's error when the database cannot be read.
    """

    def read(conn: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()

    async with read_connection(engine) as conn:
        revision: str | None = await conn.run_sync(read)
    return revision


def _config(connection: Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    # ConfigParser interpolates '%': escape it for paths that contain one.
    cfg.set_main_option("script_location", str(script_location()).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["connection"] = connection
    return cfg


def _command() -> Any:
    from alembic import command

    return command


def _check_revision(action: str, revision: object) -> str:
    if not isinstance(revision, str) or not revision.strip():
        raise MigrationError(action, None, f"revision must be a non-empty string, got {revision!r}")
    return revision


def _check_sqlite_folder(action: str, revision: str | None, engine: AsyncEngine) -> None:
    folder = missing_sqlite_folder(engine.url)
    if folder is not None:
        raise MigrationError(
            action,
            revision,
            f"cannot open {engine.url.database!r}: folder {str(folder)!r} does not exist",
        )


async def _with_connection(
    action: str, url: str, revision: str | None, fn: Callable[[Connection], Any]
) -> Any:
    engine = create_engine(url)
    try:
        _check_sqlite_folder(action, revision, engine)
        async with engine.connect() as connection:
            return await connection.run_sync(fn)
    except MigrationError:
        raise
    except Exception as exc:
        raise MigrationError(action, revision, f"{type(exc).__name__}: {exc}") from exc
    finally:
        await engine.dispose()


async def migrate_async(url: str = DEFAULT_URL, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision``; safe to await inside a running loop.

    All pending revisions run in one transaction: on failure nothing of them remains.

    Args:
        url: The database URL (async driver).
        revision: The target revision, ``"head"`` by default.

    Raises:
        InvalidDatabaseURL: ``url`` is not usable.
        MigrationError: the revision is unknown or a migration failed.
    """
    target = _check_revision("upgrade", revision)
    await _with_connection(
        "upgrade", url, target, lambda conn: _command().upgrade(_config(conn), target)
    )


async def downgrade_async(url: str = DEFAULT_URL, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision`` (``"base"``: drop every table).

    Raises:
        InvalidDatabaseURL: ``url`` is not usable.
        MigrationError: the revision is unknown or a migration failed.
    """
    target = _check_revision("downgrade", revision)
    await _with_connection(
        "downgrade", url, target, lambda conn: _command().downgrade(_config(conn), target)
    )


async def current_revision_async(url: str = DEFAULT_URL) -> str | None:
    """Return the revision the database at ``url`` is at, or ``None`` if it was never migrated.

    Raises:
        InvalidDatabaseURL: ``url`` is not usable.
        MigrationError: the database cannot be read or has several heads.
    """

    def read(conn: Connection) -> str | None:
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()

    result: str | None = await _with_connection("current", url, None, read)
    return result


def _run(action: str, revision: str | None, coro: Coroutine[Any, Any, Any]) -> Any:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise MigrationError(
        action, revision, f"called inside a running event loop; await {action}_async() instead"
    )


def migrate(url: str = DEFAULT_URL, revision: str = "head") -> None:
    """Upgrade the database at ``url`` to ``revision`` (sync; not inside a running loop).

    Raises:
        InvalidDatabaseURL: ``url`` is not usable.
        MigrationError: the revision is unknown, a migration failed, or an event loop is
            running in this thread (use :func:`migrate_async` there).
    """
    _run("migrate", revision, migrate_async(url, revision))


def downgrade(url: str = DEFAULT_URL, revision: str = "base") -> None:
    """Downgrade the database at ``url`` to ``revision`` (sync; not inside a running loop).

    Raises:
        InvalidDatabaseURL: ``url`` is not usable.
        MigrationError: the revision is unknown, a migration failed, or an event loop is
            running in this thread (use :func:`downgrade_async` there).
    """
    _run("downgrade", revision, downgrade_async(url, revision))


def current_revision(url: str = DEFAULT_URL) -> str | None:
    """Return the database's current revision, or ``None`` (sync; not inside a running loop).

    Raises:
        InvalidDatabaseURL: ``url`` is not usable.
        MigrationError: the database cannot be read, or an event loop is running in this
            thread (use :func:`current_revision_async` there).
    """
    result: str | None = _run("current_revision", None, current_revision_async(url))
    return result
