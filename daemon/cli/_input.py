"""What the bulk commands read: JSON lines from a file or stdin."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ._errors import UsageProblem

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ("read_json_lines",)


def read_json_lines(path: Path | str) -> Iterator[tuple[int, Any]]:
    """``(line number, value)`` of each non-blank line of a JSON-lines file (``-``: stdin).

    Raises:
        UsageProblem: the file cannot be read, or a line is not JSON (naming the line).
    """
    name = str(path)
    try:
        stream = sys.stdin if name == "-" else open(name, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise UsageProblem(f"cannot read {name}: {exc.strerror}") from None
    try:
        for number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise UsageProblem(f"{name} line {number} is not JSON: {exc.msg}") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
