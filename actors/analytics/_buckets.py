"""The bucket arithmetic: counts per (size, start, topic, metric), added to and read by range.

Every delta is added to the minute bucket and to the hour bucket its time falls in, so the
hour rows are the roll-up of the minute rows by construction (while both are kept) and a
range read of either size is a plain sum. Pure and synchronous: the recorder, the in-memory
store and the report all use it, and the property tests check it against a recount.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, final

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Mapping

__all__ = ("HOUR", "MINUTE", "SIZES", "BucketKey", "Buckets", "bucket_start")

MINUTE: Final = 60
HOUR: Final = 3600
SIZES: Final = (MINUTE, HOUR)

BucketKey = tuple[int, float, str, str]
"""``(bucket_size, bucket_start, topic, metric)``."""


def bucket_start(at: float, size: int) -> float:
    """The start of the ``size``-second bucket that ``at`` (epoch seconds) falls in."""
    return float(math.floor(at / size) * size)


@final
class Buckets:
    """Counts keyed by :data:`BucketKey`; zero counts are not kept."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[BucketKey, int] = {}

    def __len__(self) -> int:
        return len(self.counts)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def add(self, at: float, topic: str, metric: str, n: int) -> None:
        """Count ``n`` of ``metric`` for ``topic`` at time ``at``, in both bucket sizes."""
        if not n:
            return
        counts = self.counts
        for size in SIZES:
            key = (size, bucket_start(at, size), topic, metric)
            counts[key] = counts.get(key, 0) + n

    def add_deltas(self, at: float, deltas: Mapping[tuple[str, str], int]) -> None:
        """Count every ``(topic, metric): n`` of ``deltas`` at ``at``."""
        for (topic, metric), n in deltas.items():
            self.add(at, topic, metric, n)

    def add_key(self, key: BucketKey, n: int) -> None:
        """Add ``n`` to one bucket (a row read back, a delta put back)."""
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    def merge(self, other: Buckets) -> None:
        """Add every count of ``other``."""
        for key, n in other.counts.items():
            self.add_key(key, n)

    def take(self) -> Buckets:
        """Return the counts and start empty (what a flush hands to the writer)."""
        taken = Buckets()
        taken.counts, self.counts = self.counts, {}
        return taken

    def items(self) -> Iterator[tuple[BucketKey, int]]:
        """Every bucket and its count."""
        return iter(self.counts.items())

    def select(
        self, size: int, first: float, end: float, topics: Collection[str] | None = None
    ) -> Iterable[tuple[BucketKey, int]]:
        """The buckets of ``size`` starting in ``[first, end)`` (of ``topics``, or all)."""
        for key, n in self.counts.items():
            if key[0] == size and first <= key[1] < end and (topics is None or key[2] in topics):
                yield key, n

    def prune(self, size: int, cutoff: float) -> int:
        """Forget the buckets of ``size`` that start before ``cutoff``; return how many."""
        old = [k for k in self.counts if k[0] == size and k[1] < cutoff]
        for key in old:
            del self.counts[key]
        return len(old)
