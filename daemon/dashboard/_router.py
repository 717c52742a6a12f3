"""The dashboard's routers, its template engine and its CSRF protection, as ``create_api``
mounts them.

- ``/login`` (no session; the form needs the CSRF token), ``/logout``;
- the pages at ``/`` and ``/ui/...`` and their actions: a session for every request, and
  for every state-changing one the CSRF token too (Litestar's double-submit cookie, checked
  by :class:`~litestar.middleware.csrf.CSRFMiddleware` on these routers only, so the bearer
  API is untouched);
- ``/ui/static/...``: the page script, the style sheet and the vendored uPlot and htmx,
  from the installed package (open: they hold nothing secret);
- ``POST /v1/dashboard/login-url`` (bearer token): a fresh login URL.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from litestar import Router
from litestar.config.csrf import CSRFConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from ..api._auth import SESSION_AUTH
from . import _dead_letters, _jobs, _overview, _patterns, _retries
from ._errors import dashboard_exception
from ._guard import session_guard
from ._login import login_api_router, login_handlers, logout
from ._web import ago, when

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

    from ._sessions import DashboardAuth

__all__ = ("CSRF_COOKIE", "dashboard_routers", "template_config")

HERE = Path(__file__).resolve().parent
CSRF_COOKIE = "actorgrid_csrf"
CSRF_HEADER = "x-csrftoken"


def _engine_callback(engine: JinjaTemplateEngine) -> None:
    env = engine.engine
    env.filters["when"] = when
    env.filters["ago"] = lambda epoch: ago(epoch, time.time())
    env.globals["CSRF_HEADER"] = CSRF_HEADER


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """Jinja2 on the package's ``templates/`` (autoescaped)."""
    return TemplateConfig(
        directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=_engine_callback
    )


def dashboard_routers(auth: DashboardAuth) -> list[ControllerRouterHandler]:
    """Every route of the dashboard (``app.state.dashboard`` must be ``auth``)."""
    csrf = CSRFConfig(
        secret=auth.csrf_secret,
        cookie_name=CSRF_COOKIE,
        header_name=CSRF_HEADER,
        cookie_httponly=True,  # the pages carry the token; no script needs to read it
        cookie_samesite="strict",
        cookie_secure=auth.settings.cookie_secure,
    )
    browser: dict[str, Any] = {
        "middleware": [DefineMiddleware(CSRFMiddleware, config=csrf)],
        "opt": {SESSION_AUTH: True},
        "exception_handlers": {Exception: dashboard_exception},
        "include_in_schema": False,
    }
    pages: list[ControllerRouterHandler] = [
        _overview.overview,
        _overview.health_fragment,
        _retries.retries_page,
        _retries.retry_now,
        _retries.kill_retry,
        _retries.delete_retry,
        _dead_letters.dead_letters_page,
        _dead_letters.confirm_page,
        _dead_letters.dead_letter_page,
        _dead_letters.replay_action,
        _dead_letters.purge_action,
        _patterns.patterns_page,
        _patterns.record_page,
        _patterns.reset_action,
        _patterns.early_action,
        _jobs.job_page,
        _jobs.job_progress,
        logout,
    ]
    return [
        Router(path="/", route_handlers=list(login_handlers), **browser),
        Router(path="/", route_handlers=pages, guards=[session_guard], **browser),
        create_static_files_router(
            path="/ui/static", directories=[HERE / "static"], include_in_schema=False
        ),
        login_api_router(),
    ]
