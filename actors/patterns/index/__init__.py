"""The vector index: hnswlib (cosine) with exact search below a threshold, and its file.

``VectorIndex`` keeps unit vectors by id, answers k-nearest searches (exact numpy search
below ``DEFAULT_EXACT_THRESHOLD`` chunks, hnswlib above), enters identical vectors into the
graph once, and saves and loads itself with a sidecar of metadata. It knows nothing of
chunks, embedders or actors.
"""

from __future__ import annotations

from ._exact_search import Hit as Hit
from ._input import check_k as check_k
from ._input import check_threshold as check_threshold
from ._vector_index import DEFAULT_EXACT_THRESHOLD as DEFAULT_EXACT_THRESHOLD
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
