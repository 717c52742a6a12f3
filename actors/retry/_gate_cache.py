"""The retry gate's records in memory: an LRU per target type and a negative cache.

Owned by one gate and called only from its task. Records are kept in one ordered dict per
``target_type`` (keyed by ``target_id``, least recently used first), which costs less memory
than one dict keyed by pairs. Keys known to have no row are remembered, oldest dropped first.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Final, final

from ._policy import RetryRecord, validate_target

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._writeback import WriteBehind

__all__ = ("UNKNOWN", "RecordCache")

UNKNOWN: Final[Any] = object()
"""What :meth:`RecordCache.get` returns for a key whose record must be read from the database."""


def _never(record: RetryRecord) -> bool:
    return False


@final
class RecordCache:
    """Records of the targets seen so far, within ``max_cached`` as far as eviction allows.

    Only records whose cycle has ended (``attempt_count == 0``) or is exhausted (the target
    was dead-lettered: ``exhausted(record)``) and whose last change is committed (see
    :class:`WriteBehind`) are evicted; busy ones may push the count above ``max_cached``.
    Without a database an evicted exhausted record is gone: the target's next failure
    starts a new cycle, as after a replay.

    Args:
        max_cached: records (and, separately, absent keys) kept in memory.
        all_absent: whether every key not in memory is known to have no record (no database,
            or an empty table at start).
        persistent: whether records are backed by a database (an evicted key then has a row).
        exhausted: whether a record's cycle has run out of retries (None: never).
    """

    __slots__ = (
        "_absent",
        "_by_type",
        "_evict_above",
        "_exhausted",
        "_max",
        "_persistent",
        "all_absent",
        "count",
        "evictions",
        "write_behind",
    )

    def __init__(
        self,
        max_cached: int,
        *,
        all_absent: bool,
        persistent: bool,
        exhausted: Callable[[RetryRecord], bool] | None = None,
    ) -> None:
        self._exhausted = exhausted if exhausted is not None else _never
        self._by_type: dict[str, OrderedDict[str, RetryRecord]] = {}
        self._absent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._max = max_cached
        self._evict_above = max_cached
        self._persistent = persistent
        self.all_absent = all_absent
        self.count = 0
        """Records in memory."""
        self.evictions = 0
        self.write_behind: WriteBehind | None = None
        """Tells which records are busy (set by the gate when it writes behind)."""

    @property
    def absent_count(self) -> int:
        """Keys remembered as having no record."""
        return len(self._absent)

    def get(self, target_type: str, target_id: str) -> Any:
        """Return the key's record, ``None`` when it has none, or :data:`UNKNOWN`.

        Raises:
            InvalidTarget: for a bad key.
        """
        validate_target(target_type, target_id)
        inner = self._by_type.get(target_type)
        if inner is not None:
            record = inner.get(target_id)
            if record is not None:
                inner.move_to_end(target_id)
                return record
        if self.all_absent or (target_type, target_id) in self._absent:
            return None
        return UNKNOWN

    def peek(self, target_type: str, target_id: str) -> RetryRecord | None:
        """Return the key's record if it is in memory, without touching the LRU order."""
        inner = self._by_type.get(target_type)
        return None if inner is None else inner.get(target_id)

    def discard(self, target_type: str, target_id: str) -> None:
        """Forget the key's record; the next :meth:`get` of it answers :data:`UNKNOWN`
        (with a database), so the row or its absence is read again."""
        inner = self._by_type.get(target_type)
        if inner is None or inner.pop(target_id, None) is None:
            return
        if not inner:
            del self._by_type[target_type]
        self.count -= 1
        if self._persistent:
            self.all_absent = False

    def add_absent(self, key: tuple[str, str]) -> None:
        """Remember that ``key`` has no record."""
        absent = self._absent
        absent[key] = None
        if len(absent) > self._max:
            absent.popitem(last=False)

    def add_loaded(self, record: RetryRecord) -> RetryRecord:
        """Keep a record read from the database; return it."""
        record.target_type = sys.intern(record.target_type)
        self._insert(record)
        return record

    def create(self, target_type: str, target_id: str) -> RetryRecord:
        """Create and keep an empty record for a key that has none."""
        if type(target_type) is not str or type(target_id) is not str:
            target_type, target_id = str(target_type), str(target_id)
        record = RetryRecord(sys.intern(target_type), target_id)
        self._absent.pop((target_type, target_id), None)
        self._insert(record)
        return record

    def _insert(self, record: RetryRecord) -> None:
        # Evict first: the record being inserted is about to be used and must stay.
        if self.count >= self._evict_above:
            self.evict(room=1)
        inner = self._by_type.get(record.target_type)
        if inner is None:
            inner = self._by_type[record.target_type] = OrderedDict()
        inner[record.target_id] = record
        self.count += 1

    def evict_if_over(self) -> None:
        """Evict when the count is above the current threshold (after a flush, say)."""
        if self.count > self._evict_above:
            self.evict()

    def evict(self, room: int = 0) -> None:
        """Drop least recently used evictable records until ``max_cached - room`` remain."""
        wb = self.write_behind
        if wb is not None:
            wb.reap()
        excess = self.count + room - self._max
        evicted = 0
        exhausted = self._exhausted
        for target_type, inner in list(self._by_type.items()):
            if excess <= 0:
                break
            victims: list[str] = []
            kept: list[str] = []
            for target_id, record in inner.items():
                if (record.attempt_count == 0 or exhausted(record)) and (
                    wb is None or not wb.busy(record)
                ):
                    victims.append(target_id)
                    excess -= 1
                    if excess <= 0:
                        break
                else:
                    kept.append(target_id)
            for target_id in victims:
                del inner[target_id]
            for target_id in kept:  # busy records go to the back: the next scan skips them
                inner.move_to_end(target_id)
            if not inner:
                del self._by_type[target_type]
            evicted += len(victims)
        self.count -= evicted
        self.evictions += evicted
        if evicted and self._persistent:
            self.all_absent = False  # an evicted key has a row: unknown keys must be read
        # When busy records fill the cache, allow some growth before scanning again.
        over = self.count + room > self._max
        self._evict_above = self.count + self._max // 8 + 1 if over else self._max
