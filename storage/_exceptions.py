"""Every error the storage package raises; :class:`StorageError` is the root.

Each error takes its data as constructor arguments, keeps them as attributes and builds its
own message from them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "FlushTimeout",
    "InvalidDatabaseURL",
    "InvalidOp",
    "InvalidStorageArgument",
    "MigrationError",
    "StorageError",
    "WriteRejected",
    "WriterClosed",
    "WriterNotStarted",
)

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def _mask(url: object) -> str:
    """Return ``url`` as text with any password replaced by ``***``."""
    return _PASSWORD.sub(r"\1***@", str(url))


def _describe(statement: object) -> str:
    """Name a statement without compiling it (compiling can warn or fail on its own)."""
    text = getattr(statement, "text", None)
    if isinstance(text, str):
        described = " ".join(text.split())
    else:
        table = getattr(statement, "table", None)
        name = getattr(table, "name", None)
        kind = type(statement).__name__
        described = f"{kind} on {name}" if isinstance(name, str) else repr(statement)
    return described if len(described) <= 120 else described[:117] + "..."


class StorageError(Exception):
    """Root of every error raised by ``actorgrid.storage``."""


class InvalidDatabaseURL(StorageError):
    """Raised when a database URL cannot be parsed or names no usable async driver."""

    def __init__(self, url: object, reason: str) -> None:
        self.url = _mask(url)
        self.reason = reason
        super().__init__(f"invalid database URL {self.url!r}: {reason}")


class InvalidStorageArgument(StorageError):
    """Raised when an engine or writer option has a value outside its allowed range."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(f"invalid {name}={value!r}: expected {expected}")


class InvalidOp(StorageError):
    """Raised by ``Op(...)`` or ``Writer.submit`` for an operation that cannot be executed.

    Examples: the statement is not an executable SQLAlchemy construct, the parameters are not
    a mapping, a required bind parameter is missing, or a value cannot be converted for its
    column. Nothing of the submission is queued.
    """

    def __init__(self, statement: object, reason: str) -> None:
        self.statement = statement
        self.reason = reason
        super().__init__(f"invalid write operation ({_describe(statement)}): {reason}")


class MigrationError(StorageError):
    """Raised when a schema migration command (upgrade, downgrade, current) fails."""

    def __init__(self, action: str, revision: str | None, reason: str) -> None:
        self.action = action
        self.revision = revision
        self.reason = reason
        target = f" to {revision!r}" if revision is not None else ""
        super().__init__(f"{action}{target} failed: {reason}")


class WriteRejected(StorageError):
    """Set on a writer receipt (and raised by ``Writer.write``) when a submission failed for good.

    ``cause`` is the error of its last attempt; the submission's operations were rolled back
    and none of them is in the database.
    """

    def __init__(self, ops: int, cause: BaseException) -> None:
        self.ops = ops
        self.cause = cause
        self.__cause__ = cause
        super().__init__(f"write of {ops} operation(s) rejected: {type(cause).__name__}: {cause}")


class WriterClosed(StorageError):
    """Raised by ``Writer.submit``/``write`` once the writer has begun closing."""

    def __init__(self) -> None:
        super().__init__("the writer is closed; it accepts no more submissions")


class WriterNotStarted(StorageError):
    """Raised by ``Writer.submit``/``write``/``flush`` before ``async with writer`` was entered."""

    def __init__(self) -> None:
        super().__init__("the writer is not running; enter it with 'async with writer:' first")


class FlushTimeout(StorageError):
    """Raised by ``Writer.aclose`` when its final flush did not finish within ``close_timeout``.

    The submissions still pending are rejected (their receipts carry :class:`WriteRejected`
    with this error as the cause).
    """

    def __init__(
        self, pending_ops: int, timeout: float, unwritten: Mapping[str, int] | None = None
    ) -> None:
        self.pending_ops = pending_ops
        self.timeout = timeout
        self.unwritten: dict[str, int] = dict(unwritten or {})
        """The operations not written, counted by statement and table (``"insert messages"``)."""
        what = ", ".join(f"{name}: {n}" for name, n in self.unwritten.items())
        super().__init__(
            f"the writer's final flush did not finish within {timeout:g}s; "
            f"{pending_ops} operation(s) were not written" + (f" ({what})" if what else "")
        )
