"""What a pattern engine keeps across its incarnations: its chunk store.

A supervisor builds a new :class:`~actorgrid.actors.patterns.PatternEngine` for every
incarnation. With a database a restart reads the table again (the table is the truth);
without one nothing could be read back, so the chunks, both indexes and the failure memory
are kept in a :class:`PatternState` created once outside the actor's factory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from ._chunk_store import ChunkStore

__all__ = ("PatternCounters", "PatternState")


@final
class PatternCounters:
    """Counters of the pattern engine that outlive its incarnations and are read without
    asking it (``Runtime.metrics()``): plain ints, changed only on the event loop."""

    __slots__ = ("notes_shed",)

    def __init__(self) -> None:
        self.notes_shed = 0
        """Failure notes the engine dropped unindexed to keep up (see
        ``PatternSettings.note_backlog_limit``)."""


@final
class PatternState:
    """The chunk store a restarted pattern engine resumes with.

    Only the running incarnation touches it; the first one fills it in.
    """

    __slots__ = ("store",)

    def __init__(self) -> None:
        self.store: ChunkStore | None = None
        """Every chunk, both indexes and the failure memory (set by the first incarnation)."""
