"""The daemon's files beside the database: ``<db>.lock`` and ``<db>.token``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from actorgrid import ConfigError

__all__ = ("DaemonFiles",)


@dataclass(frozen=True, slots=True)
class DaemonFiles:
    """Where the daemon keeps its lock and its token: beside the SQLite database file."""

    database: Path
    lock: Path
    token: Path

    @classmethod
    def beside(cls, url: str | None) -> DaemonFiles:
        """The files of the database at ``url``.

        Raises:
            ConfigError: no database (``storage.url`` unset or in memory), or not a SQLite
                file: a daemon needs a file to lock and to keep its token beside.
        """
        field = "storage.url"
        if url is None:
            raise ConfigError("daemon", field, "the daemon needs a database file, not None")
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise ConfigError("daemon", field, f"not a database URL: {exc}") from None
        database = parsed.database
        if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
            problem = f"the daemon needs a SQLite database file, got {url!r}"
            raise ConfigError("daemon", field, problem)
        path = Path(database)
        return cls(path, Path(f"{path}.lock"), Path(f"{path}.token"))
