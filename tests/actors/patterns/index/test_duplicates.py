"""The books of identical vectors: placing, removing with promotion, restoring."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from actorgrid.actors.patterns.index._duplicates import DuplicateGroups, vector_key

Vector = npt.NDArray[np.float32]


def vec(seed: int) -> Vector:
    v = np.random.default_rng(seed).standard_normal(8).astype(np.float32)
    out: Vector = v / np.linalg.norm(v)
    return out


class Books:
    """DuplicateGroups over a plain dict of stored vectors."""

    def __init__(self) -> None:
        self.stored: dict[int, Vector] = {}
        self.groups = DuplicateGroups(self.stored.__getitem__)

    def add(self, label: int, v: Vector) -> int | None:
        self.stored[label] = v
        return self.groups.place(label, v)

    def remove(self, label: int) -> int | None:
        del self.stored[label]
        return self.groups.remove(label)


def test_first_copy_represents_later_copies_join() -> None:
    """The first label with a vector is its representative; copies join it."""
    books = Books()
    assert books.add(1, vec(0)) is None
    assert books.add(2, vec(1)) is None
    assert books.add(3, vec(0)) == 1
    assert books.add(4, vec(0)) == 1
    assert len(books.groups) == 2
    assert list(books.groups.members(1)) == [1, 3, 4]
    assert list(books.groups.members(2)) == [2]
    assert books.groups.is_alias(3)
    assert not books.groups.is_alias(1)
    assert not books.groups.is_alias(2)


def test_removing_the_representative_promotes_the_oldest_copy() -> None:
    """The next copy in insertion order takes over, and later copies file under it."""
    books = Books()
    for label in (1, 2, 3):
        books.add(label, vec(0))
    assert books.remove(1) == 2
    assert list(books.groups.members(2)) == [2, 3]
    assert books.add(4, vec(0)) == 2
    assert books.remove(3) is None  # an alias leaves quietly
    assert books.remove(2) == 4
    assert len(books.groups) == 0
    assert list(books.groups.members(4)) == [4]
    assert books.remove(4) is None
    assert books.add(5, vec(0)) is None  # nothing left to join


def test_rounding_differences_still_match() -> None:
    """A stored copy that differs from the fresh vector in its last bits still matches."""
    books = Books()
    fresh = vec(0)
    books.add(1, fresh)
    books.stored[1] = (fresh * np.float32(1.0000001)).astype(np.float32)
    assert books.groups.place(2, fresh) == 1


def test_restore_uses_saved_keys_and_pairs() -> None:
    """Restored books answer as before; a saved key wins over the stored vector's hash."""
    books = Books()
    fresh = vec(0)
    books.add(1, fresh)
    books.add(2, fresh)
    saved_keys = dict(books.groups.keys())
    pairs = list(books.groups.alias_pairs())
    assert pairs == [(2, 1)]

    stored = {1: (fresh * np.float32(1.0000001)).astype(np.float32), 2: fresh}
    again = DuplicateGroups(stored.__getitem__)
    again.restore([1], pairs, saved_keys)
    assert list(again.members(1)) == [1, 2]
    stored[3] = fresh
    assert again.place(3, fresh) == 1
    assert saved_keys[1] == vector_key(fresh)


@pytest.mark.parametrize(
    "pairs",
    [[(2, 9)], [(1, 1)], [(2, 1), (2, 1)]],
    ids=["unknown-rep", "rep-as-alias", "repeated-alias"],
)
def test_restore_rejects_inconsistent_pairs(pairs: list[tuple[int, int]]) -> None:
    """Pairs that do not name an alias of a representative raise and leave no books."""
    groups = DuplicateGroups(lambda label: vec(0))
    with pytest.raises(ValueError, match="alias"):
        groups.restore([1], pairs, {})
    assert len(groups) == 0
    assert not groups.keys()


def test_key_is_stable_and_sensitive() -> None:
    """The key depends only on the bytes: equal vectors agree, a changed bit differs."""
    a = vec(3)
    b = a.copy()
    assert vector_key(a) == vector_key(b)
    b[0] = np.nextafter(b[0], np.float32(2.0))
    assert vector_key(a) != vector_key(b)
    assert 0 <= vector_key(a) < 2**56
