"""What the broker and the pattern engine say to each other (and what a handler gets to read).

The broker asks for reference context before a retry (``Glimpse`` before an explicit early
retry, ``Revise`` before each revise-phase attempt) and reports failures and outcomes so
that recurring failures can be recognised. The replies travel to the handler inside its
:class:`~actorgrid.actors.DeliveryContext`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from actorgrid.kernel import Message

__all__ = (
    "REVISION_SUBPROCESS",
    "ChunkUse",
    "FailureContext",
    "Glimpse",
    "NoteFailure",
    "NoteOutcome",
    "RecurringPattern",
    "Reference",
    "Revise",
    "Revision",
)

REVISION_SUBPROCESS = "REVISION_SUBPROCESS"
"""Marker carried by every revise result, so a handler (or a log reader) can tell that the
attempt runs with revised context."""


class FailureContext(msgspec.Struct, frozen=True, kw_only=True):
    """What is known about a failing message when reference context is looked up."""

    topic: str
    target_type: str
    target_id: str
    message_id: str
    attempt: int
    """The attempt about to run (1-based)."""
    error_type: str | None = None
    error_message: str | None = None
    """The last failure's error text: the query for retrieval."""


class Reference(msgspec.Struct, frozen=True, kw_only=True):
    """One retrieved chunk of reference text."""

    chunk_id: int
    source: str
    text: str
    similarity: float
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class ChunkUse(msgspec.Struct, frozen=True, kw_only=True):
    """A reference chunk attached to retries of a pattern's targets, and how often."""

    chunk_id: int
    source: str
    count: int
    """Retries (glimpses and revisions) it was attached to."""


class RecurringPattern(msgspec.Struct, frozen=True, kw_only=True):
    """Earlier failures that resemble this one."""

    count: int
    first_seen: float
    last_seen: float
    targets: tuple[str, ...]
    """``target_type:target_id`` of the earlier failures (bounded)."""
    outcomes: dict[str, int] = msgspec.field(default_factory=dict)
    """How those failures ended: ``success``, ``dead`` or ``pending`` counts."""
    id: int = 0
    """The pattern's id: the chunk id of the failure it was first recognised from."""
    target_count: int = 0
    """How many distinct targets failed this way (``targets`` shows the first ones)."""
    example: str = ""
    """The error text of the pattern's earliest failure still kept."""
    chunks: tuple[ChunkUse, ...] = ()
    """The reference chunks the glimpse and revise lookups attached to retries of this
    pattern's failures, most attached first (at most ten), since the engine started."""


class Revision(msgspec.Struct, frozen=True, kw_only=True):
    """The result of ``revise``: chunks, suggestions, and the marker."""

    references: tuple[Reference, ...]
    suggestions: tuple[str, ...]
    pattern: RecurringPattern | None = None
    marker: str = REVISION_SUBPROCESS


class Glimpse(Message, frozen=True):
    """Ask for at most one chunk (similarity >= the glimpse threshold); reply: tuple[Reference]."""

    context: FailureContext


class Revise(Message, frozen=True):
    """Ask for up to three chunks plus reframing suggestions; reply: :class:`Revision`."""

    context: FailureContext


class NoteFailure(Message, frozen=True):
    """Index this failure's error text (a tell; no reply)."""

    context: FailureContext


class NoteOutcome(Message, frozen=True):
    """Record how a target's failures ended: ``success`` or ``dead`` (a tell; no reply)."""

    target_type: str
    target_id: str
    outcome: str
