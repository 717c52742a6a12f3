"""``Op``: one write, a statement built once and the parameters of one execution."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy.sql.base import Executable

from ._exceptions import InvalidOp

__all__ = ("Op",)

_NO_PARAMS: Final[Mapping[str, Any]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Op:
    """One write: a statement built once by the caller and the parameters of this execution.

    Consecutive operations with the same statement object (and the same parameter keys) are
    executed as one ``executemany``, so build each statement once and reuse it.
    """

    statement: Executable
    """A Core INSERT / UPDATE / DELETE / upsert (or ``text()``)."""
    params: Mapping[str, Any] = field(default_factory=lambda: _NO_PARAMS)
    """Column keys / bind parameter names to values."""

    def __post_init__(self) -> None:
        if not isinstance(self.statement, Executable):
            raise InvalidOp(self.statement, "statement must be an executable SQLAlchemy construct")
        if type(self.params) is not dict and not isinstance(self.params, Mapping):
            raise InvalidOp(
                self.statement, f"params must be a mapping, got {type(self.params).__name__}"
            )
