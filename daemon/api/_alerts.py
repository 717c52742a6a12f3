"""The daemon's own alerts: ``GET /v1/alerts`` (the firing ones; ``?all=true``: every one).

An open read like the other GETs. It answers the monitor's last evaluation and asks the
runtime nothing; without a monitor (``[alerts] enabled = false``) the list is empty.
"""

from __future__ import annotations

from typing import Annotated

from litestar import Router, get
from litestar.params import QueryParameter

from ..alerts import Alert
from ._context import Ctx
from ._pages import Items

__all__ = ("alerts_router",)


@get("/", summary="The daemon's alerts")
async def list_alerts(
    ctx: Ctx,
    all_: Annotated[
        bool,
        QueryParameter(name="all", description="include the alerts that are not firing (ok)"),
    ] = False,
) -> Items[Alert]:
    """The alerts firing at the monitor's last evaluation (in the order of
    ``docs/operations.md``, "Alerting"); with ``all=true`` every alert, ``ok`` ones included."""
    monitor = ctx.alerts
    if monitor is None:
        return Items([])
    found = monitor.alerts() if all_ else monitor.active()
    return Items(found)


def alerts_router() -> Router:
    """The alerts, under ``/v1/alerts``."""
    return Router(
        path="/v1/alerts",
        route_handlers=[list_alerts],
        tags=["alerts"],
        signature_namespace={"Alert": Alert, "Items": Items},
    )
