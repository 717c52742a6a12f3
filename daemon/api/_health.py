"""Liveness (``GET /health``) and readiness (``GET /ready``)."""

from __future__ import annotations

import msgspec
from litestar import Response, Router, get

from ._context import Ctx

__all__ = ("Health", "health_router")


class Health(msgspec.Struct, frozen=True, kw_only=True):
    """A probe's answer."""

    status: str
    """``ok``, or ``unavailable``."""
    reason: str | None = None
    """Why the runtime is not ready."""


@get("/health", summary="Liveness")
async def health() -> Health:
    """The process serves requests."""
    return Health(status="ok")


@get("/ready", summary="Readiness", responses=None)
async def ready(ctx: Ctx) -> Response[Health]:
    """200 when the database is reachable and migrated and the tree is running; else 503
    with the reason."""
    reason = await ctx.runtime.readiness()
    if reason is None:
        return Response(Health(status="ok"))
    return Response(Health(status="unavailable", reason=reason), status_code=503)


def health_router() -> Router:
    """The probes, at the root."""
    return Router(path="/", route_handlers=[health, ready], tags=["health"])
