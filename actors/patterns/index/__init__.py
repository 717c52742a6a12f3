"""The vector index: hnswlib (cosine) with exact search below a threshold, and its file.

``VectorIndex`` keeps unit vectors by id, answers k-nearest searches (exact numpy search
below ``DEFAULT_EXACT_THRESHOLD`` chunks, hnswlib above), enters identical vectors into the
graph once, and saves and loads itself with a sidecar of metadata. It knows nothing of
chunks, embedders or actors. Its parameters and checks import nothing heavy; the index itself
(numpy, hnswlib) loads on first use of ``VectorIndex``, ``Hit`` or ``IndexStats``.
"""

from __future__ import annotations

import typing

from actorgrid.kernel import lazy_names as _lazy_names

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


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, __all__)
