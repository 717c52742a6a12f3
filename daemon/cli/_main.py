"""The console script's entry point."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._root import root

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("main",)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``actorgrid`` with ``argv`` (default: the process's arguments); return the status.

    A usage error prints what is wrong and returns 2 (cyclopts exits with 2 itself).
    """
    result = root(list(argv) if argv is not None else None, result_action="return_value")
    return int(result) if isinstance(result, int) else 0
