"""How a command reports an error: one line on stderr that says what to do, and its code."""

from __future__ import annotations

import sys

from actorgrid.daemon import DaemonError, ExitCode

__all__ = ("report",)


def report(exc: Exception) -> int:
    """Print ``actorgrid: error: <exc>`` on stderr; return the exit code it means."""
    print(f"actorgrid: error: {exc}", file=sys.stderr)
    if isinstance(exc, DaemonError):
        return int(exc.exit_code)
    return int(ExitCode.USAGE)
