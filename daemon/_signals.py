"""SIGTERM and SIGINT: the first starts the graceful stop, a second ends the process at once.

The handlers are plain ``signal.signal`` handlers, not event-loop callbacks, so a second
signal ends the process even while the loop is busy. Ending at once is safe for the
database: SQLite in WAL mode keeps every committed transaction across a hard exit, and what
was not committed was never acknowledged.
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from types import FrameType

__all__ = ("STOP_SIGNALS", "SignalWatch")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalWatch:
    """Install the handlers: ``with SignalWatch(loop, on_stop): ...`` (main thread only).

    Args:
        loop: the daemon's event loop; ``on_stop(signal_name)`` is called in it, once.
        on_stop: starts the graceful stop.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, on_stop: Callable[[str], None]) -> None:
        self._loop = loop
        self._on_stop = on_stop
        self.received: list[str] = []
        self._previous: dict[int, object] = {}

    def __enter__(self) -> SignalWatch:
        for sig in STOP_SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        self.received.append(name)
        if len(self.received) == 1:
            self._loop.call_soon_threadsafe(self._on_stop, name)
            return
        status = 128 + signum
        # No logging machinery here: a signal handler may interrupt it half-way.
        line = {
            "event": "second_signal",
            "level": "warning",
            "signal": name,
            "exit_status": status,
            "note": "exiting at once; committed work is kept, unfinished work runs again",
            "timestamp": datetime.datetime.now(datetime.UTC).isoformat(),
        }
        text = json.dumps(line) if not _isatty() else " ".join(f"{k}={v}" for k, v in line.items())
        os.write(2, (text + "\n").encode())
        os._exit(status)


def _isatty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
