"""The vector index: hnswlib (cosine) with exact search below a threshold, and its file.

``VectorIndex`` keeps unit vectors by id, answers k-nearest searches (exact numpy search
below ``DEFAULT_EXACT_THRESHOLD`` chunks, hnswlib above), enters identical vectors into the
graph once, and saves and loads itself with a sidecar of metadata. It knows nothing of
chunks, embedders or actors. Its parameters and checks import nothing heavy; the index itself
(numpy, hnswlib) loads on first use of ``VectorIndex``, ``Hit`` or ``IndexStats``.
"""

from __future__ import annotations

import importlib
import typing

from ._params import DEFAULT_EXACT_THRESHOLD as DEFAULT_EXACT_THRESHOLD
from ._params import check_k as check_k
from ._params import check_threshold as check_threshold

# ``typing.TYPE_CHECKING``, not a bare name: a face binds only what it exports.
if typing.TYPE_CHECKING:
    from ._exact_search import Hit as Hit
    from ._vector_index import IndexStats as IndexStats
    from ._vector_index import VectorIndex as VectorIndex

__all__ = (
    "DEFAULT_EXACT_THRESHOLD",
    "Hit",
    "IndexStats",
    "VectorIndex",
    "check_k",
    "check_threshold",
)

_LAZY: dict[str, str] = {
    "Hit": "._exact_search",
    "IndexStats": "._vector_index",
    "VectorIndex": "._vector_index",
}
"""Names whose modules import numpy or hnswlib: loaded on first use, not with the face."""


def __getattr__(name: str) -> typing.Any:
    home = _LAZY.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
