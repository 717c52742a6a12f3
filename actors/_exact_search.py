"""Search results, and exact cosine search over a contiguous matrix of unit vectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

__all__ = ("Hit", "exact_search", "similarities")

_BLOCK = 1024
"""Rows per matrix-vector product.

OpenBLAS runs a larger matrix-vector product (beyond about 1,200 x 384) on several threads.
For one query that gains little and stalls when the cores are busy: on a loaded two-core
machine a 2,000 x 384 product took a median of 8 ms threaded against 0.09 ms in blocks.
Products of at most this many rows stay on the calling thread.
"""


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result."""

    id: int
    similarity: float
    """Cosine similarity in [-1, 1]; 1 means the same direction."""


def similarities(
    matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Return ``matrix @ query``, computed in blocks of rows (see ``_BLOCK``)."""
    n = len(matrix)
    if n <= _BLOCK:
        return matrix @ query
    out = np.empty(n, np.float32)
    for start in range(0, n, _BLOCK):
        stop = min(n, start + _BLOCK)
        np.matmul(matrix[start:stop], query, out=out[start:stop])
    return out


def exact_search(
    matrix: npt.NDArray[np.float32],
    ids: npt.NDArray[np.int64],
    query: npt.NDArray[np.float32],
    k: int,
    floor: float,
    filter: Callable[[int], bool] | None = None,
) -> list[Hit]:
    """Return the ``k`` rows most similar to ``query``, most similar first.

    Args:
        matrix: Unit vectors, one row per item.
        ids: The id of each row.
        query: A unit vector.
        k: Most hits to return.
        floor: Leave out hits below this similarity.
        filter: If given, only ids for which it returns true are returned.

    Returns:
        Up to ``k`` hits, sorted by similarity, highest first.
    """
    n = len(matrix)
    if n == 0:
        return []
    sims = similarities(matrix, query)
    if filter is None and k < n:
        top = np.argpartition(-sims, k - 1)[:k]
        order = top[np.argsort(-sims[top], kind="stable")]
    else:
        order = np.argsort(-sims, kind="stable")
    hits: list[Hit] = []
    for row in order.tolist():
        sim = min(1.0, max(-1.0, float(sims[row])))
        if sim < floor:
            break
        label = int(ids[row])
        if filter is not None and not filter(label):
            continue
        hits.append(Hit(label, sim))
        if len(hits) == k:
            break
    return hits
