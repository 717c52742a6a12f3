"""The broker's timetable: the scheduled deliveries it holds in memory, earliest due first.

A durable topic's scheduled work lives in its rows. The timetable holds only the earliest
part of it: every scheduled row up to a *horizon* (an ``(available_at, id)`` position),
loaded page by page as the held part runs low, and nothing after it. A failure scheduled
after the horizon is not held at all: its row carries it until a later page reaches it.
Transient deliveries have no row, so they are always held.

Every page is read after a writer barrier (everything submitted before it is committed),
so a row the broker did not hold is always seen with its latest state. While a page is
being read the horizon does not move, so whatever is scheduled meanwhile is held; once the
page is in, what lies after the new horizon is let go again (its row is committed by the
next barrier).

The timetable belongs to the broker core, not to an incarnation of the broker actor: a
restarted broker finds its transient retries and the held rows where they were, and a
delivery it took out for an attempt is not armed a second time.
"""

from __future__ import annotations

import heapq
import itertools
import math
from typing import TYPE_CHECKING, Any, final

from .._delivery import delivery_from_row

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .._delivery import Delivery

__all__ = ("Timetable",)

Position = tuple[float, str]

_EVERYTHING: Position = (math.inf, "")
"""The horizon once the last page was short: every scheduled row is held."""


@final
class Timetable:
    """Scheduled deliveries by due time, by id and by target, up to a horizon.

    Args:
        page: rows per page read; a refill is wanted when fewer than half a page of durable
            deliveries are held, and at most two pages' worth are held at once.
    """

    __slots__ = (
        "_by_target",
        "_heap",
        "_seq",
        "by_id",
        "durable",
        "horizon",
        "loaded",
        "page",
        "paging",
        "removed",
    )

    def __init__(self, page: int = 500) -> None:
        self.page = page
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self.by_id: dict[str, Delivery] = {}
        self._by_target: dict[tuple[str, str], str | set[str]] = {}
        self.horizon: Position = (-math.inf, "")
        """Every scheduled row at or before it is held; none after it."""
        self.durable = 0
        """Durable deliveries held."""
        self.loaded = False
        """Whether the first page was read (by the first broker incarnation)."""
        self.paging = False
        """Whether a page is being read now (the horizon must not move meanwhile)."""
        self.removed: set[str] = set()
        """Ids of scheduled rows an operator killed or deleted whose change a page being
        read may not see yet: :meth:`load` skips them, and the next page read after a
        writer barrier forgets them (see ``Broker._refill``)."""

    def __len__(self) -> int:
        return len(self.by_id)

    @property
    def complete(self) -> bool:
        """Whether every scheduled row is held (the last page read was short)."""
        return self.horizon == _EVERYTHING

    def wants_page(self) -> bool:
        """Whether rows after the horizon exist and too few durable ones are held."""
        return (
            self.loaded
            and not self.paging
            and not self.complete
            and self.durable < max(1, self.page // 2)
        )

    def earliest(self) -> float:
        """The earliest due time held (``math.inf`` when none)."""
        heap = self._heap
        while heap and self.by_id.get(heap[0][2].id) is not heap[0][2]:
            heapq.heappop(heap)  # taken or let go since it was pushed
        return heap[0][0] if heap else math.inf

    # -- holding and taking ---------------------------------------------------------------

    def schedule(self, d: Delivery, at: float) -> bool:
        """A failure was scheduled for ``at``: hold it unless its row is after the horizon.

        Returns:
            Whether it is held (else its row carries it until a page reaches it).
        """
        if d.durable and not self.paging and (at, d.id) > self.horizon:
            return False
        self._hold(d, at)
        if d.durable and self.durable > 2 * self.page and not self.paging:
            self._shrink()
        return True

    def _hold(self, d: Delivery, at: float) -> None:
        old = self.by_id.get(d.id)
        if old is not None:
            self.take(old)
        self.by_id[d.id] = d
        if d.durable:
            self.durable += 1
        key = (d.target_type, d.target_id)
        ids = self._by_target.get(key)
        if ids is None:
            self._by_target[key] = d.id
        elif isinstance(ids, str):
            self._by_target[key] = {ids, d.id}
        else:
            ids.add(d.id)
        heapq.heappush(self._heap, (at, next(self._seq), d))

    def take(self, d: Delivery) -> bool:
        """Take ``d`` out for an attempt; ``False`` if it is not held (any more)."""
        if self.by_id.get(d.id) is not d:
            return False
        del self.by_id[d.id]
        if d.durable:
            self.durable -= 1
        key = (d.target_type, d.target_id)
        ids = self._by_target.get(key)
        if isinstance(ids, str):
            if ids == d.id:
                del self._by_target[key]
        elif ids is not None:
            ids.discard(d.id)
            if not ids:
                del self._by_target[key]
        return True

    def pop_due(self, now: float) -> Delivery | None:
        """Take out the earliest delivery due at ``now``, if any."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, d = heapq.heappop(heap)
            if self.take(d):
                return d
        return None

    def hold(self, d: Delivery, at: float) -> None:
        """Hold ``d`` for ``at`` whatever the horizon (a delivery put back after its
        attempt could not be made: its row is at or before the horizon)."""
        self._hold(d, at)

    def hold_everything(self) -> None:
        """There are no rows (a memory-only runtime): hold every scheduled delivery."""
        self.horizon = _EVERYTHING
        self.loaded = True

    def of_target(self, target_type: str, target_id: str) -> list[Delivery]:
        """The target's held deliveries."""
        found = self._by_target.get((target_type, target_id))
        if found is None:
            return []
        ids = (found,) if isinstance(found, str) else found
        return [self.by_id[i] for i in ids]

    def entries(self) -> list[tuple[float, Delivery]]:
        """Every held delivery with its due time, earliest first."""
        due: dict[str, tuple[float, Delivery]] = {}
        for at, _, d in self._heap:
            if self.by_id.get(d.id) is d:
                known = due.get(d.id)
                if known is None or at < known[0]:
                    due[d.id] = (at, d)
        return sorted(due.values(), key=lambda item: (item[0], item[1].id))

    def after_horizon(self, at: float, message_id: str) -> bool:
        """Whether a row at ``(at, message_id)`` lies after the horizon (not held)."""
        return (at, message_id) > self.horizon

    # -- pages ----------------------------------------------------------------------------

    def load(self, rows: Iterable[Any]) -> int:
        """Hold one page of scheduled rows read after the horizon; move the horizon to its
        end (or to everything after a short page), then let go of what lies after it.

        Returns:
            How many deliveries were added.
        """
        added = 0
        count = 0
        last: Position | None = None
        for row in rows:
            count += 1
            last = (row.available_at, row.id)
            if row.id in self.by_id or row.id in self.removed:
                continue  # scheduled again while the page was read (the held one is newer),
                # or killed or deleted meanwhile
            self._hold(delivery_from_row(row), row.available_at)
            added += 1
        self.horizon = last if count >= self.page and last is not None else _EVERYTHING
        self.loaded = True
        self._let_go_after_horizon()
        return added

    def _shrink(self) -> None:
        """Too many durable deliveries held: keep the earliest ``page`` and move the horizon
        back to the last of them (the rest are committed rows, or will be by the next
        page's barrier)."""
        held = sorted(
            (at, d.id) for at, _, d in self._heap if d.durable and self.by_id.get(d.id) is d
        )
        if len(held) > self.page:
            self.horizon = held[self.page - 1]
            self._let_go_after_horizon()

    def _let_go_after_horizon(self) -> None:
        if self.complete:
            return
        kept: list[tuple[float, int, Delivery]] = []
        for entry in self._heap:
            at, _, d = entry
            if self.by_id.get(d.id) is not d:
                continue
            if d.durable and (at, d.id) > self.horizon:
                self.take(d)
                continue
            kept.append(entry)
        heapq.heapify(kept)
        self._heap = kept

    def transient(self) -> int:
        """Transient deliveries held (they are lost if the process ends)."""
        return len(self.by_id) - self.durable
