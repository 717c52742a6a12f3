"""actorgrid.daemon.dashboard: the operator's web page, served by the daemon.

Jinja2 pages (through Litestar's template engine) for the overview (charts drawn in the
browser by the vendored uPlot from ``/v1/analytics``; the tree's health), the scheduled
retries, the dead letters, the recurring patterns and the retry records, with their
actions; htmx for the few live parts. Logins follow the Jupyter convention: a one-time
token URL (printed by the daemon, minted by ``actorgrid dashboard``) or the API token in a
form, for a server-side session (HttpOnly, SameSite=Strict cookie), and a CSRF token on
every state-changing request. ``docs/operations.md`` ("Dashboard") describes it.
"""

from __future__ import annotations

from ._login import LoginUrl as LoginUrl
from ._router import dashboard_routers as dashboard_routers
from ._router import template_config as template_config
from ._sessions import DashboardAuth as DashboardAuth
from ._sessions import LoginToken as LoginToken
from ._sessions import Session as Session
from ._sessions import default_auth as default_auth
from ._settings import DashboardSettings as DashboardSettings

__all__ = (
    "DashboardAuth",
    "DashboardSettings",
    "LoginToken",
    "LoginUrl",
    "Session",
    "dashboard_routers",
    "default_auth",
    "template_config",
)
