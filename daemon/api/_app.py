"""``create_api``: the Litestar app of the admin and intake API over one runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

import actorgrid

from ._alerts import alerts_router
from ._analytics import analytics_router
from ._auth import token_guard
from ._chunks import chunks_router, patterns_router
from ._context import ApiContext
from ._dead_letters import dead_letters_router
from ._errors import handle_exception
from ._health import health_router
from ._intake import intake_router
from ._job_manager import JobManager
from ._jobs import jobs_router
from ._observe import observe_router
from ._records import records_router
from ._retries import retries_router

if TYPE_CHECKING:
    from actorgrid import Runtime

    from ..alerts import AlertMonitor
    from ..dashboard import DashboardAuth
    from ._settings import ApiSettings

__all__ = ("create_api",)


def create_api(
    runtime: Runtime,
    settings: ApiSettings,
    *,
    alerts: AlertMonitor | None = None,
    dashboard: DashboardAuth | None = None,
) -> Litestar:
    """Return the API app over a running ``runtime``, with the dashboard at ``/`` and
    ``/ui/...``.

    The app's OpenAPI document is at ``/schema/openapi.json``. Its background jobs run on
    the serving event loop and are cancelled at the app's shutdown; ``app.state.jobs`` is
    the :class:`JobManager`. ``alerts`` is the monitor ``GET /v1/alerts`` answers from
    (None: an empty list); the caller runs it. ``app.state.dashboard`` is the dashboard's
    logins (``dashboard``, or new ones with the default settings: mint a login URL with
    its ``mint()``).
    """
    # Imported here: the dashboard's modules use the API's helpers (no import cycle).
    from ..dashboard import dashboard_routers, default_auth, template_config

    auth = dashboard if dashboard is not None else default_auth(settings.token)
    jobs = JobManager(runtime, keep=settings.max_jobs_kept)
    ctx = ApiContext(runtime=runtime, settings=settings, jobs=jobs, alerts=alerts)

    def provide_ctx() -> ApiContext:
        return ctx

    version = getattr(actorgrid, "__version__", None) or _version()
    app = Litestar(
        route_handlers=[
            health_router(),
            observe_router(runtime),
            analytics_router(),
            intake_router(),
            retries_router(),
            dead_letters_router(),
            jobs_router(),
            records_router(),
            chunks_router(),
            patterns_router(),
            alerts_router(),
            *dashboard_routers(auth),
        ],
        dependencies={"ctx": Provide(provide_ctx, sync_to_thread=False)},
        guards=[token_guard(settings.token)],
        exception_handlers={Exception: handle_exception},
        request_max_body_size=settings.max_body_bytes,
        # Litestar's default logging config installs its own stdlib handlers and format at
        # startup; the daemon's logging (structlog, JSON or console) already covers stdlib.
        logging_config=None,
        openapi_config=OpenAPIConfig(
            title="actorgrid admin and intake API", version=version, path="/schema"
        ),
        template_config=template_config(),
        on_shutdown=[jobs.aclose],
        debug=False,
    )
    app.state.jobs = jobs
    app.state.dashboard = auth
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("actorgrid")
    except PackageNotFoundError:
        return "0"
