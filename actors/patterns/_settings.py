"""``[pattern]``: the pattern engine's settings, its embedder, and where its index file lives."""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import TYPE_CHECKING, Final

import msgspec
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .._exceptions import InvalidArgument
from .embedders import Thresholds
from .index import DEFAULT_EXACT_THRESHOLD

if TYPE_CHECKING:
    from .embedders import Embedder

__all__ = (
    "FAILURE_SOURCE",
    "SENTENCE_TRANSFORMERS",
    "PatternSettings",
    "build_embedder",
    "effective_thresholds",
    "failure_index_path",
    "resolve_index_path",
)

FAILURE_SOURCE: Final = "failure"
"""The source of the chunks that record failures; reserved (``AddChunks`` refuses it)."""

SENTENCE_TRANSFORMERS: Final = "sentence-transformers:"
"""Prefix of an embedder setting that names a locally installed sentence-transformers model."""


def _integer(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidArgument(f"pattern.{name}", value, f"an integer >= {low}")


def _similarity(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not -1.0 <= float(value) <= 1.0
    ):
        raise InvalidArgument(f"pattern.{name}", value, "a cosine similarity in [-1, 1]")


def _fraction(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= float(value) <= 1.0
    ):
        raise InvalidArgument(f"pattern.{name}", value, "a number in [0, 1]")


def _seconds(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or float(value) <= 0
    ):
        raise InvalidArgument(f"pattern.{name}", value, "a finite number of seconds > 0")


class PatternSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[pattern]``: the pattern engine (reference chunks, glimpse, revise, failure memory).

    The glimpse and revise thresholds default to the embedder's own (``Embedder.thresholds``,
    measured for each on real text: see ``docs/INFERENCING_VS_REFERENCING.md`` for the
    precision and answer rate each threshold gives); set them here to override.

    Raises:
        InvalidArgument: a value is out of range (decoding from TOML reports it with the
            field's path).
    """

    enabled: bool = True
    """Run the pattern engine; off: retries carry no reference context."""
    index_path: str | None = None
    """Where the references' index file goes; default: beside the SQLite database file
    (``<db>.hnsw``). The failures' index goes beside it (``<db>.failures.hnsw``).
    Without a database file (memory-only runtime, or a server database and no path) the
    index lives in memory and is rebuilt from the table at every start."""
    embedder: str = "hashing"
    """``hashing`` (offline, deterministic) or ``sentence-transformers:<model dir or name>``
    (needs the ``embeddings`` extra and the model on this machine;
    ``sentence-transformers:all-MiniLM-L6-v2`` loads the model the extra installs)."""
    embedder_dim: int = 384
    """Vector dimension of the hashing embedder (a model fixes its own)."""
    glimpse_k: int = 1
    glimpse_min_similarity: float | None = None
    """Attach a glimpse chunk only at least this similar; default: the embedder's."""
    revise_k: int = 3
    revise_min_similarity: float | None = None
    """Attach revise chunks only at least this similar; default: the embedder's."""
    recurring_min_similarity: float = 0.85
    """Two failures at least this similar are the same failure. With the hashing embedder,
    the same error with other ids, paths, hosts or counts scores 0.85 to 1.0, while errors
    that differ in kind but share most words (HTTP 429 against 401 on one URL, two UNIQUE
    constraints) score 0.75 to 0.82."""
    ef: int = 96
    """hnswlib query-time candidate list (set after every load; hnswlib does not save it).
    Chosen on real text (``bench/pattern_engine.py --full``, real-text section: 100,000
    standard-library docstring paragraphs, 1,000 summary-line queries, the IDF-fitted
    hashing embedder): at M=32, ef=96 gives recall@3 0.993 at 19.3x the speed of exact
    search; ef=64 0.985 at 26x; ef=128 0.995 at 15x; ef=256 0.998 at 8x. On the synthetic
    corpora ef=96 gives 0.995 (Zipf) and 0.998 (flat clusters). Below ``exact_threshold``
    search is exact anyway."""
    M: int = 32
    """hnswlib graph degree. On real text M=16 is faster and reaches recall@3 0.983 at
    ef=96 (34x exact search), but its margin is thinner (0.963 at ef=64, against 0.985 for
    M=32) and on the dense vectors of the synthetic stress corpus it fell to 0.82 at ef=64;
    M=48 gained nothing on real text (0.993 at ef=96) and built 30% slower."""
    ef_construction: int = 200
    exact_threshold: int = DEFAULT_EXACT_THRESHOLD
    """Below this many chunks search is exact (numpy); from it on, hnswlib."""
    save_interval: float = 300.0
    """Seconds between saves of a changed index (it is also saved on stop). A save writes
    the whole index; what a crash loses since the last one is re-embedded from the table at
    the next start."""
    failure_flush_interval: float = 0.05
    """Failures are buffered and indexed together at most this many seconds later (a
    revise or search indexes the buffer first, so it always sees the failures before it)."""
    failure_batch_size: int = 256
    """Index the buffered failures at once when this many are waiting."""
    max_failures: int = 100_000
    """Failure chunks kept; beyond it the oldest are deleted."""
    embed_batch_size: int = 512
    """Texts embedded per call while adding or rebuilding."""
    idf_refit_fraction: float = 0.25
    """The hashing embedder weighs words by IDF fitted on the reference chunks; fit again
    (and rebuild the references' index) once the references added and deleted since the
    fit reach this share of those fitted on. 0.25 keeps refits geometrically apart (a
    table grown to N chunks re-embeds about 4 N in refits over its life)."""
    compact_fraction: float = 0.25
    """Rebuild the graph after deletions once this share of its slots is deleted."""
    mailbox_capacity: int = 10_000
    note_backlog_limit: int = 1_000
    """Load shedding: a failure note taken from the mailbox while more than this many
    messages still wait behind it is dropped unindexed and counted (``notes_dropped`` in
    the statistics, ``actorgrid_pattern_notes_dropped_total`` in ``/metrics``). A glimpse
    or a revise asked during a storm beyond what the engine can index then waits behind at
    most this many notes to index, not the whole mailbox: at about 0.5 ms of indexing a
    note, a quarter of the broker's 2 s ``reference_timeout``. Notes are only shed while a
    backlog stands; at a rate the engine keeps up with, none is."""

    def __post_init__(self) -> None:
        if self.index_path is not None and (
            not isinstance(self.index_path, str) or not self.index_path.strip()
        ):
            raise InvalidArgument("pattern.index_path", self.index_path, "a non-empty path")
        if not isinstance(self.embedder, str) or not (
            self.embedder == "hashing"
            or (
                self.embedder.startswith(SENTENCE_TRANSFORMERS)
                and self.embedder[len(SENTENCE_TRANSFORMERS) :].strip()
            )
        ):
            raise InvalidArgument(
                "pattern.embedder",
                self.embedder,
                f"'hashing' or '{SENTENCE_TRANSFORMERS}<model>'",
            )
        _integer("embedder_dim", self.embedder_dim, 2)
        _integer("glimpse_k", self.glimpse_k, 1)
        _integer("revise_k", self.revise_k, 1)
        for name in (
            "glimpse_min_similarity",
            "revise_min_similarity",
            "recurring_min_similarity",
        ):
            value = getattr(self, name)
            if value is not None or name == "recurring_min_similarity":
                _similarity(name, value)
        _integer("ef", self.ef, 1)
        _integer("M", self.M, 2)
        _integer("ef_construction", self.ef_construction, 1)
        _integer("exact_threshold", self.exact_threshold, 0)
        _seconds("save_interval", self.save_interval)
        _seconds("failure_flush_interval", self.failure_flush_interval)
        _integer("failure_batch_size", self.failure_batch_size, 1)
        _integer("max_failures", self.max_failures, 1)
        _integer("embed_batch_size", self.embed_batch_size, 1)
        _integer("mailbox_capacity", self.mailbox_capacity, 1)
        _integer("note_backlog_limit", self.note_backlog_limit, 0)
        _fraction("compact_fraction", self.compact_fraction)
        _fraction("idf_refit_fraction", self.idf_refit_fraction)


def build_embedder(settings: PatternSettings) -> Embedder:
    """Create the embedder the settings name (a model loads from local files only).

    Raises:
        EmbeddingError: the sentence-transformers extra or the model is not installed.
    """
    # Imported here, not with the settings: the embedders need numpy (see the face).
    from .embedders import HashingEmbedder, SentenceTransformerEmbedder

    if settings.embedder.startswith(SENTENCE_TRANSFORMERS):
        return SentenceTransformerEmbedder(settings.embedder[len(SENTENCE_TRANSFORMERS) :])
    return HashingEmbedder(dim=settings.embedder_dim)


def effective_thresholds(settings: PatternSettings, embedder: Embedder) -> Thresholds:
    """Return the glimpse and revise thresholds in force: the settings' where set, else the
    embedder's defaults."""
    default = embedder.thresholds
    glimpse, revise = settings.glimpse_min_similarity, settings.revise_min_similarity
    return Thresholds(
        glimpse=default.glimpse if glimpse is None else float(glimpse),
        revise=default.revise if revise is None else float(revise),
    )


def resolve_index_path(settings: PatternSettings, database_url: str | None) -> Path | None:
    """Return where the index file lives, or ``None`` for an index kept in memory only.

    Args:
        settings: the pattern settings (``index_path`` wins when set and there is a database).
        database_url: the runtime's database URL; ``None`` is a memory-only runtime, whose
            chunks do not outlive it, so its index is not saved either.

    Returns:
        ``index_path``; else ``<database file>.hnsw`` for a SQLite file; else ``None``.
    """
    if database_url is None:
        return None
    if settings.index_path is not None:
        return Path(settings.index_path)
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    path = Path(database)
    return path.with_name(path.name + ".hnsw")


def failure_index_path(path: Path | None) -> Path | None:
    """Return the file of the failures' index that goes with the references' index ``path``.

    ``actorgrid.db.hnsw`` gives ``actorgrid.db.failures.hnsw``.
    """
    if path is None:
        return None
    return path.with_name(f"{path.stem}.failures{path.suffix}")
