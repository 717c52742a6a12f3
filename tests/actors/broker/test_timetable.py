"""The broker's timetable: what it holds up to its horizon, and what it lets go."""

from __future__ import annotations

import math
from typing import Any

from actorgrid.actors._delivery import Delivery
from actorgrid.actors.broker._timetable import Timetable


def _d(n: int, *, durable: bool = True) -> Delivery:
    return Delivery(
        id=f"m{n:04d}",
        topic="t",
        target_type="entity",
        target_id=f"e{n}",
        payload=b"",
        headers={},
        created_at=float(n),
        durable=durable,
    )


class _Row:
    """A scheduled row as the page query returns it."""

    def __init__(self, n: int, at: float) -> None:
        d = _d(n)
        self.id, self.available_at = d.id, at
        for name in ("topic", "target_type", "target_id", "payload", "created_at"):
            setattr(self, name, getattr(d, name))
        self.headers: dict[str, str] = {}
        self.attempts = 1
        self.last_error: Any = None
        self.early_requested = False
        self.first_failed_at: float | None = None


def test_a_short_first_page_holds_everything() -> None:
    tt = Timetable(page=4)
    assert tt.load([_Row(1, 10.0), _Row(2, 20.0)]) == 2
    assert tt.complete
    assert tt.schedule(_d(3), 1e9)  # everything is held from now on
    assert not tt.wants_page()


def test_a_full_page_sets_the_horizon_and_later_failures_stay_in_the_table() -> None:
    tt = Timetable(page=2)
    tt.load([_Row(1, 10.0), _Row(2, 20.0)])
    assert tt.horizon == (20.0, "m0002")
    assert not tt.schedule(_d(3), 30.0)  # after the horizon: its row carries it
    assert tt.schedule(_d(4), 15.0)
    assert tt.schedule(_d(5, durable=False), 99.0)  # no row: always held
    due = [tt.pop_due(100.0) for _ in range(4)]
    assert [d.id if d is not None else None for d in due] == ["m0001", "m0004", "m0002", "m0005"]
    assert tt.wants_page()


def test_a_page_skips_what_was_scheduled_again_while_it_was_read() -> None:
    tt = Timetable(page=2)
    tt.load([_Row(1, 10.0), _Row(2, 20.0)])
    tt.paging = True
    newer = _d(3)
    assert tt.schedule(newer, 25.0)  # held while the page is read
    assert tt.load([_Row(3, 24.0), _Row(4, 26.0)]) == 1
    tt.paging = False
    assert tt.by_id["m0003"] is newer
    assert tt.earliest() == 10.0


def test_too_many_held_moves_the_horizon_back() -> None:
    tt = Timetable(page=2)
    tt.hold_everything()
    for n in range(5):
        tt.schedule(_d(n), float(n))
    assert tt.durable == 2
    assert tt.horizon == (1.0, "m0001")
    assert not tt.complete
    assert tt.earliest() == 0.0
    assert tt.pop_due(math.inf) == _d(0)
