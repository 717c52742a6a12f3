"""Observability: ``GET /v1/status`` (minimal here; ``/metrics`` is served elsewhere)."""

from __future__ import annotations

import dataclasses
from typing import Any

from litestar import Router, get

from ._context import Ctx

__all__ = ("observe_router",)


@get("/v1/status", summary="Runtime status")
async def status(ctx: Ctx) -> dict[str, Any]:
    """The broker's counters and the readiness of the runtime."""
    stats = ctx.runtime.statistics()
    return {
        "broker": dataclasses.asdict(stats),
        "ready": await ctx.runtime.readiness() is None,
    }


def observe_router() -> Router:
    """The observability routes."""
    return Router(path="/", route_handlers=[status], tags=["observability"])
