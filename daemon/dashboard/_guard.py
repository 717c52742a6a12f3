"""The session guard of the dashboard's pages and actions, and where its logins live.

Every dashboard route needs a live session (pages too: an operator's view of payloads and
tracebacks is not for anyone who can reach the port). A request without one is sent to the
login page (a page) or refused with 401 (an action, an htmx request); actions also need the
CSRF token (:mod:`._router`), checked before this guard runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._sessions import DashboardAuth

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler

__all__ = ("LoginRequired", "auth_of", "session_guard")


class LoginRequired(Exception):
    """The request has no live dashboard session."""


def auth_of(connection: ASGIConnection[Any, Any, Any, Any]) -> DashboardAuth:
    """The dashboard's logins of the app serving ``connection``."""
    auth = connection.app.state.dashboard
    assert isinstance(auth, DashboardAuth)
    return auth


async def session_guard(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Refuse a request without a live session (a coroutine: no thread hop)."""
    auth = auth_of(connection)
    if auth.session(connection.cookies.get(DashboardAuth.SESSION_COOKIE)) is None:
        raise LoginRequired
