"""The overview (``/``): the charts and figures (drawn in the browser from
``/v1/analytics``) and the health of the tree (from ``Runtime.status()``, here)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, get
from litestar.response import Template

from actorgrid import RuntimeClosed

from ..api._context import Ctx
from ._web import page

if TYPE_CHECKING:
    from actorgrid import Runtime

__all__ = ("RANGES", "health_fragment", "overview")

RANGES: dict[str, int] = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400}
"""The range picker's choices, in seconds."""


async def _health(runtime: Runtime) -> dict[str, Any]:
    try:
        status = await runtime.status()
    except RuntimeClosed:
        return {"status": None}
    restarts = sum(a.restarts for a in status.actors if a.parent is None)
    return {
        "status": status,
        "restarts": restarts,
        "lag": status.writer.lag_seconds if status.writer is not None else None,
    }


@get("/", summary="Dashboard: overview")
async def overview(ctx: Ctx, request: Request[Any, Any, Any]) -> Template:
    """Charts of the chosen range, the effectiveness figures, the tree's health."""
    chosen = request.query_params.get("range", "1h")
    if chosen not in RANGES:
        chosen = "1h"
    return page(
        "overview.html",
        "overview",
        ranges=list(RANGES),
        range=chosen,
        range_seconds=RANGES[chosen],
        **await _health(ctx.runtime),
    )


@get("/ui/fragments/health", summary="Dashboard: the tree's health (htmx fragment)")
async def health_fragment(ctx: Ctx) -> Template:
    """The health table alone, refreshed by the overview every few seconds."""
    return page("_health.html", "overview", **await _health(ctx.runtime))
