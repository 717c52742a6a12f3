"""``GET /v1/analytics``: per-topic counts in time buckets, and the figures derived from them.

An open read like the other GETs. ``since`` and ``until`` are epoch seconds (default: the
last hour), ``bucket`` 60 or 3600 (default: minutes within the minute retention, else
hours), ``topic`` repeatable. A range the runtime cannot answer (``since`` not before
``until``, another bucket size, more than ``analytics.max_points`` buckets) is a 400
``bad_query``. The shape is :class:`actorgrid.AnalyticsReport` (``docs/analytics.md``).
"""

from __future__ import annotations

import time
from typing import Annotated

from litestar import Router, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter

from actorgrid import AnalyticsReport

from ._context import Ctx
from ._errors import ApiError, ErrorBody

__all__ = ("analytics_router",)

_HOUR = 3600.0
_EPOCH_MAX = 1e11
"""Epoch seconds beyond any date the API takes (the year 5138)."""

Since = Annotated[
    float | None,
    QueryParameter(
        ge=0, le=_EPOCH_MAX, description="range start, epoch seconds (default: an hour ago)"
    ),
]
Until = Annotated[
    float | None,
    QueryParameter(ge=0, le=_EPOCH_MAX, description="range end, epoch seconds (default: now)"),
]
Bucket = Annotated[
    int | None,
    QueryParameter(ge=60, le=3600, description="seconds per bucket: 60 or 3600 (default: chosen)"),
]
Topics = Annotated[
    list[str] | None,
    QueryParameter(max_items=100, description="only these topics (repeatable; default: all)"),
]


@get(
    "/",
    summary="Analytics over a time range",
    description=(
        "Per topic and in total: published, handled, failed, retries by phase, dead letters "
        "by reason, handler latency p50/p99 and the retry rate, one entry per bucket; and "
        "the figures over the range (retry rate, early and revise effectiveness, time to "
        "success, dead-letter growth, top error types). Live: includes the counts not "
        "written yet."
    ),
    responses={400: ResponseSpec(data_container=ErrorBody, description="a bad range")},
)
async def analytics(
    ctx: Ctx,
    since: Since = None,
    until: Until = None,
    bucket: Bucket = None,
    topic: Topics = None,
) -> AnalyticsReport:
    """The report over ``[since, until)``."""
    runtime = ctx.runtime
    now = runtime.kernel.clock.now() if runtime.kernel is not None else time.time()
    end = now if until is None else until
    start = end - _HOUR if since is None else since
    if topic is not None:
        for name in topic:
            if not 1 <= len(name) <= 255:
                raise ApiError(400, "bad_query", f"a topic is 1 to 255 characters, got {name!r}")
    return await runtime.analytics(since=start, until=end, bucket=bucket, topics=topic)


def analytics_router() -> Router:
    """The analytics route, ``/v1/analytics``."""
    return Router(path="/v1/analytics", route_handlers=[analytics], tags=["analytics"])
