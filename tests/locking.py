"""A second process that holds SQLite's write lock on a database file (``BEGIN IMMEDIATE``)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

_HOLDER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # until the test closes our stdin (or kills us)
db.rollback()
"""


@contextlib.contextmanager
def hold_write_lock(path: Path) -> Iterator[subprocess.Popen[str]]:
    """Hold the write lock of ``path`` in another process for the duration of the block."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.strip() == "locked", f"the lock holder did not start: {line!r}"
        yield holder
    finally:
        holder.kill()
        holder.wait(10)
        for stream in (holder.stdin, holder.stdout):
            if stream is not None:
                stream.close()
