"""The async engine factory: one place that knows how actorgrid talks to its database."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, InvalidRequestError, NoSuchModuleError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ._exceptions import InvalidDatabaseURL, InvalidStorageArgument

if TYPE_CHECKING:
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ("DEFAULT_URL", "create_engine", "is_memory_url", "missing_sqlite_folder")

DEFAULT_URL = "sqlite+aiosqlite:///./actorgrid.db"
"""The database used when none is configured: a SQLite file in the working directory."""

_json_encoder = msgspec.json.Encoder()


def _json_serializer(value: Any) -> str:
    # JSON columns go through here on every write; msgspec is several times faster than
    # json.dumps, which matters on the write-behind path.
    return _json_encoder.encode(value).decode()


def _json_deserializer(text: str | bytes) -> Any:
    return msgspec.json.decode(text)


def is_memory_url(url: URL) -> bool:
    """Return whether ``url`` names an in-memory SQLite database (which cannot use WAL)."""
    database = url.database or ""
    return (
        database in ("", ":memory:")
        or url.query.get("mode") == "memory"
        or (database.startswith("file:") and "mode=memory" in database)
    )


def missing_sqlite_folder(url: URL) -> Path | None:
    """Return the folder of a SQLite database file if that folder does not exist, else None.

    A missing folder is the common reason a SQLite file cannot be opened. Checking first
    gives a plain message and spares aiosqlite's failed-connect path, which leaves an
    unawaited future behind (it errors in the worker thread once the event loop is closed).
    """
    if url.get_backend_name() != "sqlite" or is_memory_url(url) or not url.database:
        return None
    if url.database.startswith("file:"):
        return None
    folder = Path(url.database).expanduser().parent
    return None if folder.is_dir() else folder


def create_engine(
    url: str = DEFAULT_URL, *, echo: bool = False, busy_timeout_ms: int = 5000
) -> AsyncEngine:
    """Create the async engine for ``url``.

    SQLite connections are set up on connect with ``journal_mode=WAL`` (file databases only),
    ``synchronous=NORMAL``, ``busy_timeout`` and ``foreign_keys=ON``. JSON columns are
    encoded with msgspec. Other backends are created as they come (the schema is portable).

    Args:
        url: A SQLAlchemy URL with an async driver, e.g. ``sqlite+aiosqlite:///./app.db``.
        echo: Log every SQL statement (SQLAlchemy's ``echo``).
        busy_timeout_ms: How long a SQLite connection waits for a lock before it reports
            "database is locked".

    Returns:
        A new :class:`~sqlalchemy.ext.asyncio.AsyncEngine`; dispose of it when done.

    Raises:
        InvalidDatabaseURL: ``url`` is empty, unparsable, names an unknown backend, or a
            driver that is not async (``sqlite://`` instead of ``sqlite+aiosqlite://``).
        InvalidStorageArgument: ``busy_timeout_ms`` is not a non-negative integer.
    """
    if not isinstance(url, str) or not url.strip():
        raise InvalidDatabaseURL(url, "expected a non-empty URL string")
    if isinstance(busy_timeout_ms, bool) or not isinstance(busy_timeout_ms, int):
        raise InvalidStorageArgument("busy_timeout_ms", busy_timeout_ms, "an int >= 0")
    if busy_timeout_ms < 0:
        raise InvalidStorageArgument("busy_timeout_ms", busy_timeout_ms, "an int >= 0")
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidDatabaseURL(url, "not of the form 'dialect+driver://...'") from exc
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {"echo": echo}
    if backend in ("sqlite", "postgresql"):
        options["json_serializer"] = _json_serializer
        options["json_deserializer"] = _json_deserializer
    try:
        engine = create_async_engine(parsed, **options)
    except NoSuchModuleError as exc:
        raise InvalidDatabaseURL(url, f"unknown database backend or driver ({exc})") from exc
    except InvalidRequestError as exc:
        hint = " (use sqlite+aiosqlite://...)" if backend == "sqlite" else ""
        raise InvalidDatabaseURL(url, f"{exc}{hint}") from exc
    except (ArgumentError, ImportError, TypeError) as exc:
        raise InvalidDatabaseURL(url, str(exc)) from exc
    if backend == "sqlite":
        _install_sqlite_pragmas(engine, wal=not is_memory_url(parsed), busy_ms=busy_timeout_ms)
    return engine


def _install_sqlite_pragmas(engine: AsyncEngine, *, wal: bool, busy_ms: int) -> None:
    pragmas = [
        *(["PRAGMA journal_mode=WAL"] if wal else []),
        "PRAGMA synchronous=NORMAL",
        f"PRAGMA busy_timeout={busy_ms:d}",
        "PRAGMA foreign_keys=ON",
    ]

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Runs before the connection is used, outside any transaction: journal_mode and
        # foreign_keys are silently ignored inside one.
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()
