"""Search results, and exact cosine search over a contiguous matrix of unit vectors."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import threadpoolctl

if TYPE_CHECKING:
    from collections.abc import Callable

    import numpy.typing as npt

__all__ = ("Hit", "blas_single_threaded", "blocked_similarities", "exact_search", "similarities")

_FILTER_HEAD = 64
"""Rows ranked first when a filter is given (at least 4 k); the rest only if it needs them."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result."""

    id: int
    similarity: float
    """Cosine similarity in [-1, 1]; 1 means the same direction."""


_BLOCK = 1024
"""Rows per matrix-vector product when BLAS may use several threads.

OpenBLAS runs a larger matrix-vector product (beyond about 1,200 x 384) on several threads.
For one query that gains little and stalls when the cores are busy: on a loaded two-core
machine a 2,000 x 384 product took a median of 9.7 ms threaded against 0.05 ms in blocks
(``bench/pattern_engine.py`` prints both). Products of at most this many rows stay on the
calling thread.
"""


@functools.cache
def blas_single_threaded() -> bool:
    """Whether every BLAS library numpy loaded runs on one thread (asked once, through
    threadpoolctl; ``OPENBLAS_NUM_THREADS=1`` or a ``threadpool_limits`` in force at the
    first search make it so)."""
    blas = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
    return bool(blas) and all(int(i.get("num_threads", 0)) == 1 for i in blas)


def similarities(
    matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Return ``matrix @ query``.

    One plain product when BLAS is single-threaded: blocks would only cost their loop
    there (plain numpy is 8% faster at 10,000 x 384 and 15% at 50,000, measured by
    ``bench/pattern_engine.py``). Otherwise in blocks of ``_BLOCK`` rows, each too small
    for BLAS to spread over threads.
    """
    n = len(matrix)
    if n <= _BLOCK or blas_single_threaded():
        out: npt.NDArray[np.float32] = matrix @ query
        return out
    return blocked_similarities(matrix, query)


def blocked_similarities(
    matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Return ``matrix @ query`` computed in blocks of ``_BLOCK`` rows."""
    n = len(matrix)
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
    # Rank only the best few rows first; a filter that rejects most of them falls back to
    # ranking every row.
    best = k if filter is None else max(4 * k, _FILTER_HEAD)
    if best < n:
        top = np.argpartition(-sims, best - 1)[:best]
        hits, settled = _collect(
            top[np.argsort(-sims[top], kind="stable")], sims, ids, k, floor, filter
        )
        if settled or filter is None:
            return hits
    hits, _ = _collect(np.argsort(-sims, kind="stable"), sims, ids, k, floor, filter)
    return hits


def _collect(
    order: npt.NDArray[np.intp],
    sims: npt.NDArray[np.float32],
    ids: npt.NDArray[np.int64],
    k: int,
    floor: float,
    filter: Callable[[int], bool] | None,
) -> tuple[list[Hit], bool]:
    """Walk rows in ``order``; return the hits and whether rows past ``order`` cannot matter
    (``k`` hits found, or a row below ``floor`` reached)."""
    hits: list[Hit] = []
    for row in order.tolist():
        sim = min(1.0, max(-1.0, float(sims[row])))
        if sim < floor:
            return hits, True
        label = int(ids[row])
        if filter is not None and not filter(label):
            continue
        hits.append(Hit(label, sim))
        if len(hits) == k:
            return hits, True
    return hits, False
