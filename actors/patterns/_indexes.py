"""Opening the pattern engine's index: load the saved file and reconcile it, or rebuild it.

Everything here is synchronous and CPU-heavy; the engine runs it in a worker thread.

The table is the truth and the index file a cache of its vectors. A saved index is used
when it loads (same embedder and dimension, checksum intact); then chunks committed after
the last save are embedded and added, and labels the table no longer has are deleted. Any
other file is rebuilt from the table, and :attr:`OpenedIndex.reason` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._exceptions import IndexCorrupt, IndexMismatch
from .index import VectorIndex

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import numpy.typing as npt

    from ._chunk_table import Chunk
    from ._settings import PatternSettings
    from .embedders import Embedder

__all__ = ("OpenedIndex", "embed_batches", "new_index", "open_index")


@dataclass(frozen=True, slots=True)
class OpenedIndex:
    """What :func:`open_index` found and did."""

    index: VectorIndex
    reason: str | None
    """Why the index was built from the table (``None``: the saved file was used)."""
    file_existed: bool
    added: int
    """Chunks embedded and added to a loaded index (committed after its last save)."""
    removed: int
    """Labels removed from a loaded index (deleted from the table after its last save)."""


def embed_batches(embedder: Embedder, texts: Sequence[str], batch: int) -> npt.NDArray[np.float32]:
    """Embed ``texts`` ``batch`` at a time.

    Raises:
        EmbeddingError: a text is empty or not a string, or the embedder failed.
    """
    if len(texts) <= batch:
        return embedder.embed(texts)
    parts = [embedder.embed(texts[i : i + batch]) for i in range(0, len(texts), batch)]
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


def new_index(embedder: Embedder, settings: PatternSettings, expected: int = 0) -> VectorIndex:
    """Return an empty index for ``embedder``'s vectors, sized for ``expected`` chunks."""
    return VectorIndex(
        embedder.dim,
        M=settings.M,
        ef_construction=settings.ef_construction,
        ef=settings.ef,
        initial_capacity=max(1024, math.ceil(expected * 1.25)),
        exact_threshold=settings.exact_threshold,
        embedder_name=embedder.name,
    )


def _add_chunks(
    index: VectorIndex, embedder: Embedder, chunks: Sequence[Chunk], batch: int
) -> None:
    for start in range(0, len(chunks), batch):
        part = chunks[start : start + batch]
        index.add([c.id for c in part], embedder.embed([c.text for c in part]))


def _mismatch_reason(exc: IndexMismatch) -> str:
    """Say why a saved index does not fit; name IDF weights when only they differ."""
    if exc.field == "embedder" and isinstance(exc.expected, str) and isinstance(exc.found, str):
        now, _, now_idf = exc.expected.partition("-idf-")
        then, _, then_idf = exc.found.partition("-idf-")
        if now == then and now_idf != then_idf:
            return (
                f"{exc}: built with IDF weights {then_idf or 'none'}, "
                f"the weights in force are {now_idf or 'none'}"
            )
    return str(exc)


def open_index(
    path: Path | None,
    embedder: Embedder,
    chunks: Sequence[Chunk],
    settings: PatternSettings,
) -> OpenedIndex:
    """Load the index saved at ``path`` and reconcile it with ``chunks``, or build it anew.

    Args:
        path: the index file, or ``None`` for an index kept in memory only.
        embedder: the embedder in use now.
        chunks: every chunk in the table.
        settings: index parameters (``ef`` is applied after loading too).

    Raises:
        EmbeddingError: a chunk's text cannot be embedded.
    """
    batch = settings.embed_batch_size
    existed = path is not None and path.exists()
    reason: str | None = None
    if path is None:
        reason = "the index is kept in memory only"
    else:
        try:
            index = VectorIndex.load(
                path,
                embedder_name=embedder.name,
                dim=embedder.dim,
                ef=settings.ef,
                exact_threshold=settings.exact_threshold,
            )
        except IndexMismatch as exc:
            reason = _mismatch_reason(exc)
        except IndexCorrupt as exc:
            reason = str(exc)
    if reason is not None:
        index = new_index(embedder, settings, len(chunks))
        _add_chunks(index, embedder, chunks, batch)
        return OpenedIndex(index, reason, existed, 0, 0)
    live = set(index.ids())
    wanted = {c.id for c in chunks}
    missing = [c for c in chunks if c.id not in live]
    extra = sorted(live - wanted)
    if extra:
        index.delete(extra)
    _add_chunks(index, embedder, missing, batch)
    if extra:
        index.compact(min_deleted_fraction=settings.compact_fraction)
    return OpenedIndex(index, None, existed, len(missing), len(extra))
