"""The pattern-engine room: reference chunks, failure memory and the glimpse and revise lookups.

It owns the ``reference_chunks`` table and the two vector indexes beside the database
(references and failures), the failure memory that detects recurring patterns, and the
``PatternEngine`` actor that answers ``Glimpse`` (before an explicit early retry) and
``Revise`` (before each revise-phase attempt) and notes every failure (``NoteFailure``,
``NoteOutcome``). The vector index (``patterns.index``) and the embedders
(``patterns.embedders``) are rooms of their own inside it. Embedding and index work run in
a worker thread. It uses the kernel and storage, and no other room.

What only a running engine needs (the engine actor, the index, the embedders: numpy, hnswlib,
sentence-transformers) loads on first use of ``PatternEngine``, so a runtime with
``pattern.enabled = false`` never imports them; the messages and settings are light.
"""

from __future__ import annotations

import typing

from actorgrid.kernel import lazy_names as _lazy_names

from ._engine_state import PatternCounters as PatternCounters
from ._engine_state import PatternState as PatternState
from ._messages import MAX_CHUNK_CHARS as MAX_CHUNK_CHARS
from ._messages import AddChunks as AddChunks
from ._messages import ChunkInput as ChunkInput
from ._messages import DeleteChunks as DeleteChunks
from ._messages import FlushPattern as FlushPattern
from ._messages import PatternStatistics as PatternStatistics
from ._messages import PatternStats as PatternStats
from ._messages import RecurringPatterns as RecurringPatterns
from ._messages import SearchChunks as SearchChunks
from ._messages import check_chunks as check_chunks
from ._messages import check_ids as check_ids
from ._messages import check_search as check_search
from ._protocol import REVISION_SUBPROCESS as REVISION_SUBPROCESS
from ._protocol import ChunkUse as ChunkUse
from ._protocol import FailureContext as FailureContext
from ._protocol import Glimpse as Glimpse
from ._protocol import NoteFailure as NoteFailure
from ._protocol import NoteOutcome as NoteOutcome
from ._protocol import RecurringPattern as RecurringPattern
from ._protocol import Reference as Reference
from ._protocol import Revise as Revise
from ._protocol import Revision as Revision
from ._settings import FAILURE_SOURCE as FAILURE_SOURCE
from ._settings import PatternSettings as PatternSettings
from ._settings import resolve_index_path as resolve_index_path

# ``typing.TYPE_CHECKING``, not a bare name: a face binds only what it exports.
if typing.TYPE_CHECKING:
    from ._engine import PatternEngine as PatternEngine

__all__ = (
    "FAILURE_SOURCE",
    "MAX_CHUNK_CHARS",
    "REVISION_SUBPROCESS",
    "AddChunks",
    "ChunkInput",
    "ChunkUse",
    "DeleteChunks",
    "FailureContext",
    "FlushPattern",
    "Glimpse",
    "NoteFailure",
    "NoteOutcome",
    "PatternCounters",
    "PatternEngine",
    "PatternSettings",
    "PatternState",
    "PatternStatistics",
    "PatternStats",
    "RecurringPattern",
    "RecurringPatterns",
    "Reference",
    "Revise",
    "Revision",
    "SearchChunks",
    "check_chunks",
    "check_ids",
    "check_search",
    "resolve_index_path",
)

_LAZY: dict[str, str] = {"PatternEngine": "._engine"}
"""Names whose modules import numpy or hnswlib: loaded on first use, not with the face."""


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, __all__)
