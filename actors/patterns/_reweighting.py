"""The IDF weights of the references' embedder: where they are saved, when they are stale.

The hashing embedder weighs words by IDF fitted on the reference chunks (the runbooks and
documents a glimpse or a revise attaches; failures are not fitted on, and the failures'
index uses the unweighted embedder, so that the recurring-failure similarity does not move
when the references change). The weights are saved beside the references' index as
``<index>.idf.npz``; the index's sidecar records the embedder name, which carries the
weights' fingerprint, so an index is never read with other weights than it was built with.

*Stale* means: the reference chunks added and deleted since the fit reach
``idf_refit_fraction`` of the chunks fitted on (any change, when none were). Then the
weights are fitted again on every reference chunk and the references' index is rebuilt
with them. Refits grow geometrically apart, so a table that grows to ``N`` chunks costs
about ``N / fraction`` embeddings in refits over its life. At a start, the changes since
the saved fit are taken as the difference between the table's reference count and the
count fitted on (changes that cancel out while the engine was stopped are not seen).

A refit runs in the engine's worker thread like every index call, so lookups wait for it:
re-embedding and indexing 100,000 references takes tens of seconds on two cores, past the
broker's ``reference_timeout``, and the deliveries asking meanwhile go on without
references rather than wait.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import structlog

from .._exceptions import EmbeddingError
from .embedders import HashingEmbedder, IdfWeights

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from .embedders import Embedder

__all__ = ("IDF_SUFFIX", "fit_references", "idf_path", "is_stale", "reference_embedder")

IDF_SUFFIX: Final = ".idf.npz"

_log = structlog.get_logger("actorgrid.actors.pattern")


def idf_path(path: Path | None) -> Path | None:
    """Return the IDF file beside the references' index ``path`` (``None``: memory only)."""
    return None if path is None else path.with_name(path.name + IDF_SUFFIX)


def is_stale(fitted_on: int, changes: int, fraction: float) -> bool:
    """Whether weights fitted on ``fitted_on`` texts are stale after ``changes`` adds and
    deletes (see the module docstring)."""
    return changes > 0 and changes >= fraction * max(1, fitted_on)


def fit_references(embedder: HashingEmbedder, texts: Sequence[str]) -> HashingEmbedder:
    """Return ``embedder`` fitted on ``texts``, logging the fit."""
    fitted = embedder.fitted(texts)
    idf = fitted.idf
    assert idf is not None
    _log.info(
        "pattern_idf_fitted",
        documents=idf.documents,
        words=len(idf),
        fingerprint=idf.fingerprint,
    )
    return fitted


def reference_embedder(
    embedder: Embedder, path: Path | None, texts: Sequence[str], fraction: float
) -> tuple[Embedder, bool, int]:
    """Return the embedder for the references' index (worker thread).

    A hashing embedder gets the saved weights when they are not stale for ``texts`` (the
    reference chunks in the table), else weights fitted on ``texts`` now. Any other
    embedder (and version 1) is returned as it is.

    Returns:
        The embedder, whether its weights were fitted now (and so are not saved yet), and
        the changes counted since the saved fit.
    """
    if not isinstance(embedder, HashingEmbedder) or embedder.name.startswith("hashing-v1"):
        return embedder, False, 0
    base = embedder.unweighted()
    where = idf_path(path)
    if where is not None and where.exists():
        try:
            saved = IdfWeights.load(where)
        except EmbeddingError as exc:
            _log.warning("pattern_idf_unreadable", path=str(where), error=str(exc))
        else:
            changes = abs(len(texts) - saved.documents)
            if not is_stale(saved.documents, changes, fraction):
                return base.with_idf(saved), False, changes
            _log.info(
                "pattern_idf_stale",
                path=str(where),
                fitted_on=saved.documents,
                references=len(texts),
            )
    return fit_references(base, texts), True, 0
