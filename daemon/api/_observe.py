"""Observability routes: ``GET /metrics`` (Prometheus) and ``GET /v1/status``.

Both are reads, open without a token (``docs/api.md``). ``/metrics`` answers as long as the
runtime has started, while it stops and after (the final counts), so a last scrape sees
how a run ended; ``/v1/status`` walks the live tree and answers 503 once the runtime is
stopping or stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, Router, get
from litestar.openapi.datastructures import ResponseSpec

from actorgrid import RuntimeClosed, RuntimeStatus

from .._metrics import CONTENT_TYPE, render_metrics

if TYPE_CHECKING:
    from actorgrid import Runtime

__all__ = ("observe_router",)


class _ErrorBody(msgspec.Struct, frozen=True):
    """The API's error shape: ``{"error": kind, "detail": what is wrong}``."""

    error: str
    detail: str


def _closed(request: Request[Any, Any, Any], exc: RuntimeClosed) -> Response[_ErrorBody]:
    detail = f"{exc}: the runtime is stopping or stopped; start the daemon again"
    return Response(_ErrorBody("stopping", detail), status_code=503)


def observe_router(runtime: Runtime) -> Router:
    """The observability routes over ``runtime`` (an :class:`actorgrid.Runtime`).

    Args:
        runtime: the runtime to report on; it need not have started yet (``/metrics`` is
            empty and ``/v1/status`` answers 503 until it has).
    """

    @get(
        "/metrics",
        summary="Prometheus metrics",
        description=(
            "The runtime's counters in the Prometheus text format (prometheus-client), "
            "with actorgrid_ready (1: GET /ready would answer 200)."
        ),
        media_type="text/plain",
    )
    async def metrics() -> Response[bytes]:
        ready = await runtime.readiness() is None
        # The header as prometheus-client names its format (Litestar would add a charset).
        return Response(
            render_metrics(runtime, ready=ready), headers={"content-type": CONTENT_TYPE}
        )

    @get(
        "/v1/status",
        summary="Runtime status",
        description=(
            "Actors with their mailbox depths and restarts, topics and their counts, the "
            "writer's lag, the retry gate's and the pattern engine's statistics."
        ),
        responses={
            503: ResponseSpec(data_container=_ErrorBody, description="the runtime is stopping")
        },
    )
    async def status() -> RuntimeStatus:
        return await runtime.status()

    return Router(
        path="/",
        route_handlers=[metrics, status],
        tags=["observability"],
        exception_handlers={RuntimeClosed: _closed},
        signature_namespace={"RuntimeStatus": RuntimeStatus, "Response": Response},
    )
