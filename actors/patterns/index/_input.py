"""Validation of what callers hand to the vector index: ids, vectors, queries, k, thresholds.

Every check runs before the index changes, so bad input raises and leaves it as it was.
"""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from ..._exceptions import InvalidQuery, InvalidVectors

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("as_ids", "as_query", "as_unit_rows")

_MAX_ID: Final = 2**63 - 1


def as_ids(ids: Sequence[int] | npt.NDArray[np.integer[Any]]) -> npt.NDArray[np.int64]:
    """Return ids as an int64 array.

    Raises:
        InvalidVectors: An id is not an integer in [0, 2**63 - 1], or ids repeat.
    """
    if isinstance(ids, (str, bytes)):
        raise InvalidVectors("ids must be a sequence of integers")
    try:
        raw = list(ids)
    except TypeError as exc:
        raise InvalidVectors(f"ids must be a sequence of integers: {exc}") from exc
    for i in raw:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral):
            raise InvalidVectors(f"id {i!r} is not an integer")
        if not 0 <= int(i) <= _MAX_ID:
            raise InvalidVectors(f"id {i} is outside [0, 2**63 - 1]")
    arr = np.fromiter((int(i) for i in raw), np.int64, len(raw))
    if len(set(arr.tolist())) != len(arr):
        raise InvalidVectors("ids repeat within one call")
    return arr


def as_unit_rows(vectors: object, rows: int, dim: int) -> npt.NDArray[np.float32]:
    """Return ``vectors`` as a C-contiguous float32 ``(rows, dim)`` array of unit rows.

    Raises:
        InvalidVectors: Wrong shape, not numeric, NaN or infinity, or an all-zero row.
    """
    try:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.array(vectors, dtype=np.float32, copy=True)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidVectors(f"vectors are not convertible to float32: {exc}") from exc
    if arr.ndim != 2 or arr.shape != (rows, dim):
        raise InvalidVectors(f"vectors have shape {arr.shape}, expected {(rows, dim)}")
    if not np.isfinite(arr).all():
        raise InvalidVectors("vectors contain NaN or infinity")
    norms = np.linalg.norm(arr, axis=1)
    if rows and not (norms > 0).all():
        raise InvalidVectors("a vector is all zeros and has no direction")
    return np.ascontiguousarray(arr / norms[:, None], dtype=np.float32)


def as_query(vector: object, dim: int) -> npt.NDArray[np.float32]:
    """Return the query as a unit float32 vector of shape ``(dim,)``.

    Raises:
        InvalidQuery: Wrong shape (``(dim,)`` and ``(1, dim)`` are accepted), not numeric,
            NaN or infinity, or all zeros.
    """
    if isinstance(vector, np.ndarray) and vector.dtype == np.float32:
        arr = vector  # the common case: an embedder's row; no conversion, no warning to mute
    else:
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                arr = np.array(vector, dtype=np.float32)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidQuery(f"vector is not convertible to float32: {exc}") from exc
    if arr.shape not in ((dim,), (1, dim)):
        raise InvalidQuery(f"vector has shape {arr.shape}, expected ({dim},)")
    wide = arr.reshape(dim).astype(np.float64)  # squares of float32 values cannot overflow
    square = float(wide @ wide)
    if math.isnan(square) or math.isinf(square):
        raise InvalidQuery("vector contains NaN or infinity")
    if square == 0.0:
        raise InvalidQuery("vector is all zeros and has no direction")
    return (wide / math.sqrt(square)).astype(np.float32)
