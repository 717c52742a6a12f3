"""Which failed commits are worth retrying as they are."""

from __future__ import annotations

import sqlite3
from typing import Final

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError as SAOperationalError

__all__ = ("is_transient",)

_TRANSIENT_MESSAGES: Final = (
    "database is locked",
    "database table is locked",
    "database schema is locked",
    "database is busy",
    "locking protocol",
    "disk i/o error",
    "database or disk is full",
)


def is_transient(exc: BaseException) -> bool:
    """Return whether a failed commit is worth retrying as is (locks, I/O, lost connection)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(exc, SAOperationalError) or isinstance(orig, sqlite3.OperationalError):
        message = str(orig).lower()
        return any(text in message for text in _TRANSIENT_MESSAGES)
    return False
