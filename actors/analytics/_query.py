"""Answering a range query: validate it, then stored buckets plus the unwritten deltas."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .._exceptions import AnalyticsQueryError
from ._buckets import HOUR, MINUTE, SIZES, bucket_start
from ._report import build_report
from ._table import read_buckets

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncEngine

    from ._buckets import BucketKey
    from ._report import AnalyticsReport
    from ._settings import AnalyticsSettings
    from ._state import AnalyticsState

__all__ = ("plan_query", "query_report")


def plan_query(
    since: float,
    until: float,
    bucket: int | None,
    settings: AnalyticsSettings,
    now: float,
) -> tuple[int, float, int]:
    """Check a query and return ``(bucket size, first bucket start, number of buckets)``.

    ``bucket=None`` chooses minutes when ``since`` is within the minute retention of
    ``now``, else hours.

    Raises:
        AnalyticsQueryError: a bad range or bucket, or more than ``max_points`` buckets.
    """
    for name, value in (("since", since), ("until", until)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise AnalyticsQueryError(f"{name} must be a finite number of epoch seconds")
    if since >= until:
        raise AnalyticsQueryError(f"since ({since}) must be before until ({until})")
    if bucket is None:
        bucket = MINUTE if since >= now - settings.minute_retention_seconds else HOUR
    if isinstance(bucket, bool) or bucket not in SIZES:
        raise AnalyticsQueryError(f"bucket must be 60 or 3600 seconds, got {bucket!r}")
    first = bucket_start(since, bucket)
    points = math.ceil((until - first) / bucket)
    if points > settings.max_points:
        raise AnalyticsQueryError(
            f"{points} buckets of {bucket} s, more than analytics.max_points "
            f"({settings.max_points}): narrow the range or take a larger bucket"
        )
    return bucket, first, points


async def query_report(
    state: AnalyticsState | None,
    engine: AsyncEngine | None,
    settings: AnalyticsSettings,
    now: float,
    *,
    since: float,
    until: float,
    bucket: int | None,
    topics: Sequence[str] | None,
) -> AnalyticsReport:
    """The report over ``[since, until)``: what is stored plus what is not yet, live.

    Raises:
        AnalyticsQueryError: see :func:`plan_query`.
    """
    size, first, points = plan_query(since, until, bucket, settings, now)
    wanted = None if topics is None else set(topics)
    end = first + points * size
    rows: list[tuple[BucketKey, int]] = []
    if state is None:  # analytics off: only what earlier runs stored
        if engine is not None:
            rows = await read_buckets(engine, size, first, end, wanted)
    else:
        async with state.lock:
            if state.memory is None:
                await state.settle()  # committed before the read: never in both
                assert engine is not None
                rows = await read_buckets(engine, size, first, end, wanted)
            else:
                rows = list(state.memory.select(size, first, end, wanted))
            rows.extend(state.unwritten(now).select(size, first, end, wanted))
    return build_report(
        rows,
        since=float(since),
        until=float(until),
        size=size,
        first=first,
        points=points,
        topics=None if topics is None else sorted(wanted or ()),
    )
