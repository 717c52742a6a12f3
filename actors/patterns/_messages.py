"""The pattern engine's own protocol: chunks in, searches, recurring patterns, statistics.

What the broker says to the engine (glimpse, revise, failure notes) is in
:mod:`actorgrid.actors._pattern_protocol`. Every request here is an ask; bad input raises a
typed error back to the asker and changes nothing:

- chunk input (source, text, metadata, ids): :class:`~actorgrid.actors.InvalidArgument`;
- a search (empty query, ``k`` < 1, a threshold outside [-1, 1], a bad filter):
  :class:`~actorgrid.actors.InvalidQuery`.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Final

import msgspec

from actorgrid.kernel import Message
from actorgrid.storage import KEY_MAX_LENGTH

from .._exceptions import InvalidArgument, InvalidQuery
from ._settings import FAILURE_SOURCE
from .index import check_k, check_threshold

__all__ = (
    "MAX_CHUNK_CHARS",
    "AddChunks",
    "ChunkInput",
    "DeleteChunks",
    "FlushPattern",
    "PatternStatistics",
    "PatternStats",
    "RecurringPatterns",
    "SearchChunks",
    "check_chunks",
    "check_ids",
    "check_metadata",
    "check_search",
    "metadata_matches",
)

MAX_CHUNK_CHARS: Final = 100_000
"""Longest chunk text accepted (a chunk is a passage: split longer documents)."""

_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder(dict[str, Any])


class ChunkInput(msgspec.Struct, frozen=True):
    """One piece of reference text to add (a runbook section, a documentation paragraph)."""

    source: str
    """Where it comes from (a file, a URL, a runbook name): 1 to 255 characters."""
    text: str
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    """JSON-encodable values under string keys; searches can filter on them."""


class AddChunks(Message, frozen=True):
    """Store and index chunks in one transaction; reply: their new ids, in order."""

    chunks: tuple[ChunkInput, ...]


class DeleteChunks(Message, frozen=True):
    """Delete chunks by id (unknown ids are ignored); reply: how many were deleted."""

    ids: tuple[int, ...]


class SearchChunks(Message, frozen=True):
    """Find the chunks most similar to ``query``; reply: ``tuple[Reference, ...]``."""

    query: str
    k: int = 3
    min_similarity: float = 0.0
    source: str | None = None
    """Only chunks of this source (``"failure"`` searches the failure memory)."""
    metadata: dict[str, Any] | None = None
    """Only chunks whose metadata has every one of these key/value pairs."""


class RecurringPatterns(Message, frozen=True):
    """Reply: every recurring failure pattern, most failures first (``RecurringPattern``)."""


class FlushPattern(Message, frozen=True):
    """Index the buffered failures and wait until the engine's writes are committed."""


class PatternStats(Message, frozen=True):
    """Reply: a :class:`PatternStatistics` snapshot."""


class PatternStatistics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of the pattern engine."""

    embedder: str
    dim: int
    chunks: int
    """Chunks indexed (references and failures)."""
    references: int
    """Chunks of any source but ``failure``."""
    failures: int
    """Failure chunks indexed."""
    buffered_failures: int
    """Failures noted but not indexed yet."""
    patterns: int
    """Recurring patterns (two or more similar failures)."""
    index_path: str | None
    """The references' index file (``None``: kept in memory only)."""
    failure_index_path: str | None
    """The failures' index file, beside it."""
    index_slots: int
    """hnswlib elements in use in both indexes (live plus deleted slots awaiting reuse)."""
    duplicates: int
    """Chunks whose vector another chunk already has; the graphs hold each vector once."""
    ef: int
    exact_threshold: int
    rebuilds: int
    """Indexes this incarnation built from the table instead of loading them (0 to 2)."""
    rebuild_reason: str | None
    """Why the last of them was rebuilt, as ``<index>: <reason>``."""
    saves: int
    notes_ignored: int
    """Failure or outcome notes that were malformed and ignored."""
    reference_embedder: str = ""
    """The references' embedder: ``embedder`` with the IDF weights in force (their
    fingerprint in its name), or ``embedder`` itself."""
    idf_documents: int = 0
    """Reference chunks the IDF weights were fitted on (0: no weights)."""
    idf_refits: int = 0
    """Times this incarnation refitted the IDF weights because they were stale."""
    notes_dropped: int = 0
    """Failure notes shed unindexed during a backlog (all incarnations; see
    ``PatternSettings.note_backlog_limit``)."""


def _text(name: str, value: object, *, limit: int, blank_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(name, value, "a string")
    if not blank_ok and not value.strip():
        raise InvalidArgument(name, value, "a non-empty string (not only whitespace)")
    if len(value) > limit:
        raise InvalidArgument(name, f"{len(value)} characters", f"at most {limit} characters")
    return value


def check_metadata(value: object, name: str = "metadata") -> dict[str, Any]:
    """Return ``value`` as plain JSON data (tuples become lists).

    Raises:
        InvalidArgument: it is not a dict with string keys and JSON-encodable values.
    """
    if not isinstance(value, dict):
        raise InvalidArgument(name, value, "a dict with string keys")
    for key in value:
        if not isinstance(key, str):
            raise InvalidArgument(f"{name} key", key, "a string")
    if not _finite(value):
        raise InvalidArgument(name, value, "JSON values (NaN and infinity are not JSON)")
    try:
        return _json_decoder.decode(_json_encoder.encode(value))
    except (TypeError, ValueError, OverflowError, msgspec.DecodeError) as exc:
        raise InvalidArgument(name, value, f"JSON-encodable values ({exc})") from exc


def _finite(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


def _source(name: str, value: object) -> str:
    return _text(name, value, limit=KEY_MAX_LENGTH).strip()


def _chunk(item: object, i: int) -> ChunkInput:
    if isinstance(item, ChunkInput):
        source, text, metadata = item.source, item.text, item.metadata
    elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
        source, text = item[0], item[1]
        metadata = item[2] if len(item) == 3 and item[2] is not None else {}
    else:
        raise InvalidArgument(
            f"chunks[{i}]", item, "a ChunkInput or a (source, text[, metadata]) tuple"
        )
    source = _source(f"chunks[{i}].source", source)
    if source == FAILURE_SOURCE:
        raise InvalidArgument(
            f"chunks[{i}].source", source, "another source ('failure' is the failure memory's)"
        )
    text = _text(f"chunks[{i}].text", text, limit=MAX_CHUNK_CHARS)
    return ChunkInput(source, text, check_metadata(metadata, f"chunks[{i}].metadata"))


def check_chunks(chunks: object) -> tuple[ChunkInput, ...]:
    """Validate chunks to add: each a :class:`ChunkInput` or ``(source, text[, metadata])``.

    Returns:
        The chunks as :class:`ChunkInput`, sources stripped, metadata as plain JSON data.

    Raises:
        InvalidArgument: ``chunks`` is not a sequence, or a chunk has an empty or overlong
            source, the reserved source ``failure``, an empty or overlong text, or metadata
            that is not a JSON object.
    """
    if isinstance(chunks, (str, bytes, dict)) or not isinstance(chunks, (tuple, list)):
        raise InvalidArgument("chunks", chunks, "a list or tuple of chunks")
    return tuple(_chunk(item, i) for i, item in enumerate(chunks))


def check_ids(ids: object) -> tuple[int, ...]:
    """Validate chunk ids; repeats are dropped, the order kept.

    Raises:
        InvalidArgument: ``ids`` is not an iterable of non-negative integers.
    """
    if isinstance(ids, (str, bytes, dict)):
        raise InvalidArgument("ids", ids, "a sequence of chunk ids")
    try:
        items = list(ids)  # type: ignore[call-overload]
    except TypeError as exc:
        raise InvalidArgument("ids", ids, "a sequence of chunk ids") from exc
    seen: dict[int, None] = {}
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral) or int(item) < 0:
            raise InvalidArgument("chunk id", item, "an integer >= 0")
        seen[int(item)] = None
    return tuple(seen)


def check_search(
    query: object,
    k: object,
    min_similarity: object,
    source: object,
    metadata: object,
) -> tuple[str, int, float, str | None, dict[str, Any] | None]:
    """Validate a search's arguments.

    Returns:
        ``(query, k, min_similarity, source, metadata)`` normalised.

    Raises:
        InvalidQuery: an empty or non-string query, ``k`` < 1, ``min_similarity`` outside
            [-1, 1], a source that is not a string, or metadata that is not a JSON object.
    """
    if not isinstance(query, str) or not query.strip():
        raise InvalidQuery(f"query must be a non-empty string, got {query!r:.60}")
    if len(query) > MAX_CHUNK_CHARS:
        raise InvalidQuery(f"query is {len(query)} characters, at most {MAX_CHUNK_CHARS}")
    k_ = check_k(k)
    floor = check_threshold(min_similarity)
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise InvalidQuery(f"source must be None or a non-empty string, got {source!r:.60}")
    wanted: dict[str, Any] | None = None
    if metadata is not None:
        try:
            wanted = check_metadata(metadata)
        except InvalidArgument as exc:
            raise InvalidQuery(f"metadata filter: {exc}") from exc
    return query, k_, floor, source.strip() if isinstance(source, str) else None, wanted


def metadata_matches(meta: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Return whether ``meta`` has every key/value pair of ``wanted``."""
    return all(key in meta and meta[key] == value for key, value in wanted.items())
