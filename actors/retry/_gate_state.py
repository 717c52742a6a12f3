"""What a retry gate keeps across its incarnations: its records and its write-behind.

A supervisor builds a new :class:`~actorgrid.actors.retry.RetryGate` for every incarnation.
Created once outside the actor's factory and handed to each of them, a :class:`GateState`
carries over what the crashed incarnation knew: the records in memory (without a database
the only copy; with one the newest, since the table lags behind by the write-behind) and
the changes not committed yet (dirty, held for a caller, or in flight at the writer), and
the count of its decisions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from ._gate_cache import RecordCache
    from ._writeback import WriteBehind

__all__ = ("GateState",)


@final
class GateState:
    """The records and pending writes a restarted retry gate resumes with.

    Only the running incarnation touches it; the first one fills it in.
    """

    __slots__ = ("cache", "decisions", "write_behind")

    def __init__(self) -> None:
        self.cache: RecordCache | None = None
        """The record cache (set by the first incarnation)."""
        self.write_behind: WriteBehind | None = None
        """The write-behind (set by the first incarnation that started with a database)."""
        self.decisions: dict[tuple[bool, str], int] = {}
        """Decisions the gate made, by ``(allowed, reason)``, over all incarnations: each
        ``CanRetry`` answer and each explicit early retry a ``RecordFailure`` asked for.
        Plain ints, which the owner of the state may read from the same thread at any time
        (the runtime's metrics)."""
