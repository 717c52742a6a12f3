"""The messages the pattern engine's timers send it (see :mod:`actorgrid.kernel._timers`)."""

from __future__ import annotations

from typing import Final

from actorgrid.kernel import Message

__all__ = ("FLUSH_FAILURES", "SAVE_INDEX", "FlushFailures", "SaveIndex")


class FlushFailures(Message, frozen=True):
    """Sent by the engine's timer to the engine: index the buffered failures."""


class SaveIndex(Message, frozen=True):
    """Sent by the engine's timer to the engine: save the index if it changed."""


FLUSH_FAILURES: Final = FlushFailures()
SAVE_INDEX: Final = SaveIndex()
