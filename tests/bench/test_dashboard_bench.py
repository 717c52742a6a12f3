"""bench/dashboard.py on a tiny size: the seeded rows are what the overview reads back."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bench.dashboard import DAY, METRICS, MINUTE, Sizes, measure

if TYPE_CHECKING:
    from pathlib import Path


async def test_the_overview_renders_the_seeded_day(tmp_path: Path) -> None:
    ours, floor, seeded, size = await measure(Sizes(topics=1, renders=2), tmp_path)
    assert seeded == DAY // MINUTE * len(METRICS)
    assert len(ours) == len(floor) == 2
    assert all(s > 0 for s in ours + floor)
    assert size > 10_000  # the day's JSON, not an empty report
