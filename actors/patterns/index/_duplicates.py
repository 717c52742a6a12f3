"""Groups of items whose vectors are identical, so that the graph holds each vector once.

HNSW graphs handle exact duplicates badly: every copy is as close to the others as to the
point being linked, neighbour selection keeps the copies linked to each other, and each
insert of another copy searches the whole knot (with hnswlib at M=32, inserting 1,200
copies one by one took 2.3 ms each, against 0.2 ms for distinct vectors). Duplicates are common
here: the same error text recurs for every message that hits the same failure, and the
default embedder drops the ids and numbers that tell two occurrences apart.

So only one item of each group of identical vectors, its *representative*, is in the
graph; the others are *aliases* that searches return beside it, at the same similarity.
This module only keeps the books; :class:`~actorgrid.actors.VectorIndex` moves items in
and out of the graph as representatives come and go.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    import numpy.typing as npt

__all__ = ("DuplicateGroups", "vector_key")

_SAME: float = 1e-6
"""Largest difference per coordinate between two vectors filed under the same key.

Keys hash a vector's exact bytes; the stored copy of a vector can differ from a fresh one in
the last bits (hnswlib normalises what it stores, and a loaded index reads it back), so the
check that confirms a key match allows for float32 rounding and nothing more.
"""


def vector_key(vector: npt.NDArray[np.float32]) -> int:
    """Return a 56-bit hash of ``vector``'s bytes, the same in every process."""
    return int.from_bytes(hashlib.blake2b(vector.tobytes(), digest_size=7).digest(), "little")


class _Group:
    __slots__ = ("members",)

    def __init__(self, first: int, second: int) -> None:
        self.members: dict[int, None] = {first: None, second: None}
        """Labels in insertion order; the first is the representative."""

    @property
    def rep(self) -> int:
        return next(iter(self.members))


class DuplicateGroups:
    """Which live labels share a vector, and which of them represents it in the graph.

    Args:
        vector_of: Returns the stored unit vector of a live label (to confirm that two
            vectors with the same hash are really equal).
    """

    def __init__(self, vector_of: Callable[[int], npt.NDArray[np.float32]]) -> None:
        self._vector_of = vector_of
        self._by_key: dict[int, int] = {}
        """Hash of a vector's bytes -> the representative holding it."""
        self._key_of: dict[int, int] = {}
        """Representative -> the hash it is filed under."""
        self._groups: dict[int, _Group] = {}
        """Label -> its group, for labels whose vector has a duplicate."""
        self._aliases = 0

    def __len__(self) -> int:
        """Return how many live labels are aliases (not in the graph)."""
        return self._aliases

    def clear(self) -> None:
        """Forget every label."""
        self._by_key.clear()
        self._key_of.clear()
        self._groups.clear()
        self._aliases = 0

    def place(self, label: int, vector: npt.NDArray[np.float32]) -> int | None:
        """File a new live label; return the representative it joins, or ``None``.

        ``None`` means the label is a representative now and belongs in the graph.
        """
        key = vector_key(vector)
        rep = self._by_key.get(key)
        if rep is None:
            self._by_key[key] = label
            self._key_of[label] = key
            return None
        if float(np.abs(self._vector_of(rep) - vector).max()) > _SAME:
            return None  # a hash collision: keep it apart, unfiled
        self._join(rep, label)
        return rep

    def _join(self, rep: int, alias: int) -> None:
        group = self._groups.get(rep)
        if group is None:
            group = self._groups[rep] = _Group(rep, alias)
        else:
            group.members[alias] = None
        self._groups[alias] = group
        self._aliases += 1

    def is_alias(self, label: int) -> bool:
        """Return whether ``label`` is live but not in the graph."""
        group = self._groups.get(label)
        return group is not None and group.rep != label

    def remove(self, label: int) -> int | None:
        """Forget a live label; return the alias promoted to take its place, if any.

        The caller deletes a removed representative from the graph and inserts the
        promoted alias, which has the same vector.
        """
        group = self._groups.pop(label, None)
        if group is None:
            key = self._key_of.pop(label, None)
            if key is not None:
                del self._by_key[key]
            return None
        was_rep = group.rep == label
        del group.members[label]
        self._aliases -= 1
        new_rep = group.rep
        if len(group.members) == 1:
            del self._groups[new_rep]
        if not was_rep:
            return None
        key = self._key_of.pop(label, None)
        if key is not None:
            self._by_key[key] = new_rep
            self._key_of[new_rep] = key
        return new_rep

    def members(self, rep: int) -> Iterable[int]:
        """Return ``rep`` and its aliases, the representative first."""
        group = self._groups.get(rep)
        return (rep,) if group is None else group.members

    def keys(self) -> Mapping[int, int]:
        """Return the key each filed representative is filed under."""
        return self._key_of

    def alias_pairs(self) -> Iterator[tuple[int, int]]:
        """Yield ``(alias, representative)`` for every alias."""
        for label, group in self._groups.items():
            rep = group.rep
            if label != rep:
                yield label, rep

    def restore(
        self,
        reps: Iterable[int],
        pairs: Iterable[tuple[int, int]],
        keys: Mapping[int, int],
    ) -> None:
        """Rebuild the books from saved representatives, pairs and keys.

        Args:
            reps: Every representative (its vector already stored).
            pairs: ``(alias, representative)`` of every alias.
            keys: The saved key of each filed representative; a representative without
                one is filed under the key of its stored vector.

        Raises:
            ValueError: a pair does not name an alias of a representative.
        """
        self.clear()
        known: set[int] = set()
        for label in reps:
            known.add(label)
            key = keys.get(label)
            if key is None:
                key = vector_key(self._vector_of(label))
            if key not in self._by_key:
                self._by_key[key] = label
                self._key_of[label] = key
        for alias, rep in pairs:
            if rep not in known or alias in known or alias in self._groups:
                self.clear()
                raise ValueError(f"alias {alias} of {rep}: not an alias of a representative")
            self._join(rep, alias)
