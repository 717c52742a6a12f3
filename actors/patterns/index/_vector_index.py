"""Cosine vector index: hnswlib for large corpora, exact numpy search for small ones."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import hnswlib
import numpy as np
import numpy.typing as npt

from ._duplicates import DuplicateGroups
from ._exact_search import Hit, exact_search
from ._input import as_ids, as_query, as_unit_rows, check_k, check_threshold
from ._store import read_index, write_index

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Iterable, Sequence

__all__ = ("DEFAULT_EXACT_THRESHOLD", "IndexStats", "VectorIndex")

DEFAULT_EXACT_THRESHOLD: Final = 5_000
"""Below this many live items ``search`` uses exact numpy search.

Measured with ``bench/pattern_engine.py --full`` (dim 384, IDF-fitted hashing vectors of
the Zipf corpus, k=3, the engine's M=32 and ef=96, two cores), ms per query exact against
hnswlib: 0.13 against 0.15 at 3,000 items, 0.22 against 0.20 at 5,000, 0.31 against 0.25
at 7,500, 0.44 against 0.29 at 10,000, 2.3 against 0.52 at 20,000 (the measured crossover:
5,000; it was 10,000 at the former ef=128). hnswlib's recall@3 there is 0.99 and more. The
graph is kept up to date at every size, so crossing the threshold costs nothing.
"""

_GROWTH: Final = 1.5


@dataclass(frozen=True, slots=True)
class IndexStats:
    """A snapshot of the index's size."""

    live: int
    """Items that searches can return."""
    slots: int
    """hnswlib elements, live plus deleted ones waiting to be reused."""
    capacity: int
    """hnswlib elements allocated; grows automatically."""
    exact_threshold: int
    ef: int
    duplicates: int
    """Live items whose vector another live item already has; they are not in the graph."""
    matrix_bytes: int
    """Memory of the contiguous vector matrix kept for exact search and compaction."""
    hnsw_bytes: int
    """Size of the hnswlib graph as serialised (data and links of its slots)."""


class VectorIndex:
    """A cosine-similarity index of ``(id, vector)`` pairs owned by one actor.

    Not thread-safe: hnswlib's add, query and resize must never run concurrently, so one
    owner calls every method, from one thread at a time (the pattern engine runs them in a
    worker thread, one call after another). Queries use a single hnswlib thread; batch adds
    use ``num_threads``.

    Two representations are kept in step: the hnswlib graph (cosine space, with
    ``allow_replace_deleted`` so deleted slots are reused and the graph does not grow
    forever) and a contiguous float32 matrix of the unit vectors of the live items. Below
    ``exact_threshold`` live items, ``search`` multiplies the matrix by the query, which
    is exact and, at that size, as fast. The matrix also feeds :meth:`compact`.

    Items with identical vectors enter the graph once (see ``_duplicates.py``: hnswlib
    slows down and loses recall on exact duplicates, and recurring error texts make many);
    searches return every copy, at the same similarity.
    """

    def __init__(
        self,
        dim: int,
        *,
        M: int = 16,
        ef_construction: int = 200,
        ef: int = 64,
        initial_capacity: int = 1024,
        exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
        seed: int = 100,
        num_threads: int = -1,
        embedder_name: str = "",
    ) -> None:
        """Create an empty index.

        Args:
            dim: Vector dimension.
            M: hnswlib graph degree.
            ef_construction: hnswlib build-time candidate list size.
            ef: hnswlib query-time candidate list size (at least ``k`` is used).
            initial_capacity: Elements allocated at first; grows by half when full.
            exact_threshold: Below this many live items, search exactly with numpy.
            seed: hnswlib's random seed (level assignment), for reproducible graphs.
            num_threads: Threads hnswlib uses for a batch add (-1: all cores).
            embedder_name: Name of the embedder that made the vectors, saved with the index.

        Raises:
            ValueError: A parameter is out of range.
        """
        if dim < 1 or M < 2 or ef_construction < 1 or initial_capacity < 1:
            raise ValueError("dim, M, ef_construction and initial_capacity must be positive")
        if exact_threshold < 0:
            raise ValueError(f"exact_threshold must be >= 0, got {exact_threshold}")
        self._dim = dim
        self._M = M
        self._ef_construction = ef_construction
        self._seed = seed
        self._num_threads = num_threads
        self._embedder_name = embedder_name
        self._initial_capacity = initial_capacity
        self.exact_threshold = exact_threshold
        """Below this many live items, search exactly with numpy."""
        self._hnsw = self._new_hnsw(initial_capacity)
        self._ef = 0
        self.set_ef(ef)
        self._matrix = np.zeros((initial_capacity, dim), np.float32)
        self._ids = np.zeros(initial_capacity, np.int64)
        self._row: dict[int, int] = {}
        self._stale: set[int] = set()
        """Labels whose deleted hnswlib slot may still exist."""
        self._graph_live = 0
        """hnswlib slots holding a live item (the representatives)."""
        self._dups = DuplicateGroups(self._vector_of)

    def _vector_of(self, label: int) -> npt.NDArray[np.float32]:
        row: npt.NDArray[np.float32] = self._matrix[self._row[label]]
        return row

    def _new_hnsw(self, capacity: int) -> Any:
        hnsw = hnswlib.Index(space="cosine", dim=self._dim)
        hnsw.init_index(
            max_elements=capacity,
            ef_construction=self._ef_construction,
            M=self._M,
            random_seed=self._seed,
            allow_replace_deleted=True,
        )
        return hnsw

    @property
    def dim(self) -> int:
        """Return the vector dimension."""
        return self._dim

    @property
    def embedder_name(self) -> str:
        """Return the name of the embedder whose vectors this index holds."""
        return self._embedder_name

    def __len__(self) -> int:
        return len(self._row)

    def __contains__(self, item: object) -> bool:
        return item in self._row

    def ids(self) -> list[int]:
        """Return the live ids (in no particular order)."""
        return list(self._row)

    def set_ef(self, ef: int) -> None:
        """Set hnswlib's query-time candidate list size.

        Raises:
            ValueError: ``ef`` < 1.
        """
        if isinstance(ef, bool) or not isinstance(ef, int) or ef < 1:
            raise ValueError(f"ef must be an integer >= 1, got {ef!r}")
        self._hnsw.set_ef(ef)
        self._ef = ef

    def stats(self) -> IndexStats:
        """Return a snapshot of the index's size."""
        return IndexStats(
            live=len(self._row),
            slots=self._hnsw.get_current_count(),
            capacity=self._hnsw.get_max_elements(),
            exact_threshold=self.exact_threshold,
            ef=self._ef,
            duplicates=len(self._dups),
            matrix_bytes=self._matrix.nbytes + self._ids.nbytes,
            hnsw_bytes=self._hnsw.index_file_size(),
        )

    def add(
        self,
        ids: Sequence[int] | npt.NDArray[np.integer[Any]],
        vectors: npt.ArrayLike,
    ) -> None:
        """Add or replace items; vectors are normalised to unit length.

        An id that is already live has its vector replaced. Capacity grows as needed;
        deleted slots are reused before new ones are allocated.

        Args:
            ids: Distinct non-negative integers, one per row of ``vectors``.
            vectors: A ``(len(ids), dim)`` array convertible to float32.

        Raises:
            InvalidVectors: An id is not a non-negative integer or repeats; ``vectors`` has
                the wrong shape, is not numeric, holds NaN or infinity, or has an all-zero
                row. The index is unchanged.
        """
        id_arr = as_ids(ids)
        unit = as_unit_rows(vectors, len(id_arr), self._dim)
        if not len(id_arr):
            return
        labels = id_arr.tolist()
        for label in labels:
            if label in self._row:
                self._remove(label)
        self._store_rows(id_arr, unit)
        place = self._dups.place
        reps = [pos for pos, label in enumerate(labels) if place(label, unit[pos]) is None]
        if reps:
            idx = np.asarray(reps, np.int64)
            self._insert(id_arr[idx], unit[idx])

    def _insert(self, labels: npt.NDArray[np.int64], unit: npt.NDArray[np.float32]) -> None:
        """Put representatives that are not in the graph into it, reusing deleted slots."""
        hnsw = self._hnsw
        revived: list[int] = []
        fresh: list[int] = []
        for pos, label in enumerate(labels.tolist()):
            if label in self._stale:
                # The label's deleted slot may still exist (then revive it in place) or may
                # have been reused for another label (then it is a new label). Inserting it
                # elsewhere while its old slot survives would give hnswlib two slots with
                # one label, which later corrupts its label table.
                self._stale.discard(label)
                try:
                    hnsw.unmark_deleted(label)
                except RuntimeError:
                    fresh.append(pos)
                else:
                    revived.append(pos)
                    self._graph_live += 1
            else:
                fresh.append(pos)
        count = hnsw.get_current_count()
        needed = count + max(0, len(fresh) - (count - self._graph_live))
        if needed > hnsw.get_max_elements():
            hnsw.resize_index(max(needed, math.ceil(hnsw.get_max_elements() * _GROWTH)))
        if revived:
            idx = np.asarray(revived, np.int64)
            hnsw.add_items(unit[idx], labels[idx], num_threads=self._num_threads)
        if fresh:
            idx = np.asarray(fresh, np.int64)
            hnsw.add_items(
                unit[idx], labels[idx], num_threads=self._num_threads, replace_deleted=True
            )
            self._graph_live += len(fresh)

    def _store_rows(self, id_arr: npt.NDArray[np.int64], unit: npt.NDArray[np.float32]) -> None:
        """Append rows for labels that are not live."""
        n = len(self._row)
        end = n + len(id_arr)
        if end > len(self._matrix):
            cap = max(end, math.ceil(len(self._matrix) * _GROWTH))
            matrix = np.zeros((cap, self._dim), np.float32)
            matrix[:n] = self._matrix[:n]
            ids = np.zeros(cap, np.int64)
            ids[:n] = self._ids[:n]
            self._matrix, self._ids = matrix, ids
        self._matrix[n:end] = unit
        self._ids[n:end] = id_arr
        self._row.update(zip(id_arr.tolist(), range(n, end), strict=True))

    def delete(self, ids: Sequence[int] | npt.NDArray[np.integer[Any]]) -> int:
        """Delete items; ids that are not live are ignored.

        The hnswlib slots are marked deleted and reused by later adds.

        Returns:
            How many items were deleted.

        Raises:
            InvalidVectors: An id is not a non-negative integer or repeats. Nothing changes.
        """
        deleted = 0
        for label in as_ids(ids).tolist():
            if label in self._row:
                self._remove(label)
                deleted += 1
        return deleted

    def _remove(self, label: int) -> None:
        """Remove a live label from the matrix, the duplicate books and the graph."""
        row = self._row.pop(label)
        last = len(self._row)
        if row != last:
            moved = int(self._ids[last])
            self._matrix[row] = self._matrix[last]
            self._ids[row] = moved
            self._row[moved] = row
        alias = self._dups.is_alias(label)
        promoted = self._dups.remove(label)
        if alias:
            return
        self._hnsw.mark_deleted(label)
        self._stale.add(label)
        self._graph_live -= 1
        if promoted is not None:
            vec = self._matrix[self._row[promoted]]
            self._insert(np.asarray([promoted], np.int64), vec[None, :])

    def deleted_fraction(self) -> float:
        """Return the share of hnswlib slots that hold deleted items."""
        slots = self._hnsw.get_current_count()
        return (slots - self._graph_live) / slots if slots else 0.0

    def compact(self, *, min_deleted_fraction: float = 0.25) -> bool:
        """Rebuild the hnswlib graph from the live items if enough slots are deleted.

        Deleted slots are reused by adds, but until then they still sit in the graph and
        searches walk through them; a rebuild drops them.

        Args:
            min_deleted_fraction: Rebuild only when at least this share of slots is
                deleted; 0 rebuilds whenever any slot is deleted.

        Returns:
            Whether the graph was rebuilt.
        """
        fraction = self.deleted_fraction()
        if fraction == 0.0 or fraction < min_deleted_fraction:
            return False
        n = len(self._row)
        is_alias = self._dups.is_alias
        rows = np.asarray(
            [row for row, label in enumerate(self._ids[:n].tolist()) if not is_alias(label)],
            np.int64,
        )
        hnsw = self._new_hnsw(max(self._initial_capacity, math.ceil(len(rows) * _GROWTH)))
        hnsw.set_ef(self._ef)
        if len(rows):
            hnsw.add_items(self._matrix[rows], self._ids[rows], num_threads=self._num_threads)
        self._hnsw = hnsw
        self._stale.clear()
        self._graph_live = len(rows)
        return True

    def search(
        self,
        vector: npt.ArrayLike,
        k: int = 3,
        min_similarity: float = -1.0,
        filter: Callable[[int], bool] | None = None,
    ) -> list[Hit]:
        """Return up to ``k`` nearest live items, most similar first.

        Args:
            vector: The query, shape ``(dim,)`` or ``(1, dim)``; need not be normalised.
            k: Most hits to return, >= 1.
            min_similarity: Drop hits below this cosine similarity, in [-1, 1].
            filter: If given, only ids for which it returns true are considered.

        Returns:
            Hits sorted by similarity, highest first; fewer than ``k`` when fewer items
            qualify.

        Raises:
            InvalidQuery: ``k`` < 1, ``min_similarity`` outside [-1, 1], or the vector has
                the wrong shape, is not numeric, holds NaN or infinity, or is all zeros.
        """
        check_k(k)
        floor = check_threshold(min_similarity)
        query = as_query(vector, self._dim)
        n = len(self._row)
        if n == 0:
            return []
        if n >= self.exact_threshold:
            duplicates = len(self._dups) > 0
            graph_filter = filter
            if duplicates and filter is not None:
                graph_filter = functools.partial(_any_member, self._dups.members, filter)
            try:
                labels, dists = self._hnsw.knn_query(
                    query, k=min(k, self._graph_live), num_threads=1, filter=graph_filter
                )
            except RuntimeError:
                # hnswlib found fewer than k items (a selective filter, or many deleted
                # slots); the exact path returns whatever qualifies.
                pass
            else:
                hits = (
                    Hit(int(label), min(1.0, max(-1.0, 1.0 - float(dist))))
                    for label, dist in zip(labels[0].tolist(), dists[0].tolist(), strict=True)
                )
                if not duplicates:
                    return [h for h in hits if h.similarity >= floor]
                return self._expand(hits, k, floor, filter)
        return exact_search(self._matrix[:n], self._ids[:n], query, k, floor, filter)

    def _expand(
        self,
        hits: Iterable[Hit],
        k: int,
        floor: float,
        filter: Callable[[int], bool] | None,
    ) -> list[Hit]:
        """Return up to ``k`` hits, each representative followed by its aliases."""
        out: list[Hit] = []
        members = self._dups.members
        for hit in hits:
            if hit.similarity < floor:
                break
            for label in members(hit.id):
                if filter is None or filter(label):
                    out.append(Hit(label, hit.similarity))
                    if len(out) == k:
                        return out
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Save the index to ``path`` and a ``.meta.json`` sidecar beside it, atomically.

        Raises:
            OSError: The files could not be written; an earlier save is left intact.
        """
        n = len(self._row)
        write_index(
            path,
            self._hnsw,
            embedder=self._embedder_name,
            dim=self._dim,
            ids=self._ids[:n].tolist(),
            aliases=list(self._dups.alias_pairs()),
            keys=list(self._dups.keys().items()),
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        embedder_name: str,
        dim: int,
        ef: int,
        exact_threshold: int = DEFAULT_EXACT_THRESHOLD,
        num_threads: int = -1,
    ) -> VectorIndex:
        """Load an index saved by :meth:`save`; ``ef`` is applied (hnswlib does not save it).

        Args:
            path: The graph file given to :meth:`save`.
            embedder_name: Name of the embedder in use now.
            dim: Vector dimension in use now.
            ef: Query-time candidate list size.
            exact_threshold: Below this many live items, search exactly with numpy.
            num_threads: Threads hnswlib uses for a batch add (-1: all cores).

        Raises:
            IndexMismatch: The index was built by another embedder or for another dimension.
            IndexCorrupt: A file is missing or garbled, or its checksum is wrong.
        """
        loaded = read_index(path, embedder=embedder_name, dim=dim)
        index = cls(
            dim,
            M=loaded.hnsw.M,
            ef_construction=loaded.hnsw.ef_construction,
            ef=ef,
            initial_capacity=1,
            exact_threshold=exact_threshold,
            num_threads=num_threads,
            embedder_name=embedder_name,
        )
        index._hnsw = loaded.hnsw
        index.set_ef(ef)
        index._stale = loaded.stale
        if loaded.ids:
            index._matrix = loaded.vectors
            index._ids = np.asarray(loaded.ids, np.int64)
        index._row = {label: row for row, label in enumerate(loaded.ids)}
        alias_of = dict(loaded.aliases)
        reps = [label for label in loaded.ids if label not in alias_of]
        index._dups.restore(reps, loaded.aliases, loaded.keys)
        index._graph_live = len(reps)
        return index


def _any_member(
    members: Callable[[int], Iterable[int]], filter: Callable[[int], bool], rep: int
) -> bool:
    """Let a representative through hnswlib's filter if it or any of its aliases passes."""
    return any(filter(label) for label in members(rep))
