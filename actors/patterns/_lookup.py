"""Glimpse and revise: what the pattern engine looks up for a retry.

Both run on the engine's task with its :class:`~actorgrid.actors._chunk_store.ChunkStore`;
the embedding and the searches run in one call each (in a worker thread unless measured
cheap, see :mod:`actorgrid.actors.patterns._offload`), whose filters read the store while
the task waits.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Final

from ._protocol import Reference, Revision
from ._suggestions import revision_suggestions

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ._chunk_store import ChunkStore
    from ._failure_memory import FailureMemory
    from ._settings import PatternSettings
    from .index import Hit

__all__ = ("glimpse", "revise")

_SIMILAR: Final = 32
"""Alike failures of other targets that revise looks at."""


async def glimpse(
    store: ChunkStore, settings: PatternSettings, query: str | None
) -> tuple[Reference, ...]:
    """Return at most ``glimpse_k`` reference chunks (never failures) >= the glimpse
    threshold in force (``store.thresholds``), most similar first.

    Raises:
        EmbeddingError: the query cannot be embedded.
    """
    if query is None or not store.has_references():
        return ()
    hits = await store.search(
        query, settings.glimpse_k, store.thresholds.glimpse, None, failures=False
    )
    return tuple(store.reference(h) for h in hits)


async def revise(
    store: ChunkStore, settings: PatternSettings, target: str, query: str | None
) -> Revision:
    """Return up to ``revise_k`` reference chunks >= the revise threshold, suggestions built
    from them, from the target's failures in its current cycle and from alike failures of
    other targets, the target's recurring pattern, and the marker.

    Args:
        store: the engine's chunks.
        settings: thresholds and ``k``.
        target: ``target_type:target_id``.
        query: the last error text (``None``: the target's last noted failure is used).

    Raises:
        EmbeddingError: a text cannot be embedded.
    """
    memory = store.memory
    own = [n for n in memory.of_target(target) if n.outcome == "pending"]
    query = query or (own[-1].text if own else None)
    refs: list[Hit] = []
    similar: list[Hit] = []
    same = False
    if query is not None:
        refs, similar, same = await store.offload.run(
            "revise", 1, _revise_lookup, store, settings, query, target, [n.text for n in own]
        )
    references = tuple(store.reference(h) for h in refs)
    pattern = memory.pattern_of(own[-1].id) if own else None
    suggestions = revision_suggestions(
        references=references,
        own=own,
        own_same=same,
        similar=[memory.notes[h.id] for h in similar if h.id in memory],
        memory=memory,
        pattern=pattern,
        min_similarity=store.thresholds.revise,
    )
    return Revision(references=references, suggestions=suggestions, pattern=pattern)


def _revise_lookup(
    store: ChunkStore, s: PatternSettings, query: str, target: str, own_texts: list[str]
) -> tuple[list[Hit], list[Hit], bool]:
    """(worker thread) Reference chunks, other targets' alike failures, and whether this
    target's failures so far are all alike."""
    vectors = store.embed([query, *own_texts])
    refs: list[Hit] = []
    if store.has_references():
        ref_query = store.embed([query], store.ref_embedder)[0]
        refs = store.ref_index.search(ref_query, s.revise_k, store.thresholds.revise)
    similar = store.failure_index.search(
        vectors[0],
        _SIMILAR,
        s.recurring_min_similarity,
        functools.partial(_other_target_failure, store.memory, target),
    )
    return refs, similar, _all_alike(vectors[1:], s.recurring_min_similarity)


# -- search filters (called from the worker thread while the actor waits) -----------------


def _other_target_failure(memory: FailureMemory, target: str, chunk_id: int) -> bool:
    note = memory.notes.get(chunk_id)
    return note is not None and note.target != target


def _all_alike(vectors: npt.NDArray[np.float32], floor: float) -> bool:
    if len(vectors) < 2:
        return False
    return bool(((vectors @ vectors[-1]) >= floor).all())
