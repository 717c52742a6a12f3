"""Errors on the dashboard's routes: an HTML page with the API's status and kind.

The status codes and kinds are the API's (:func:`actorgrid.daemon.api._errors.handle_exception`),
so a refused action answers the same code in the page as over the API. A request without a
session goes to the login page (a page) or gets 401 (an action, an htmx request).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import msgspec
from litestar.response import Redirect, Template

from ..api._errors import handle_exception
from ._guard import LoginRequired

if TYPE_CHECKING:
    from litestar import Request, Response

__all__ = ("dashboard_exception",)


def _login_required(request: Request[Any, Any, Any]) -> Response[Any]:
    path = request.url.path
    if request.method == "GET" and "hx-request" not in request.headers:
        query = urlencode({"next": path}) if path != "/" else ""
        return Redirect(f"/login?{query}" if query else "/login", status_code=303)
    return Template(
        template_name="error.html",
        context={
            "nav": "login",
            "status": 401,
            "error": "unauthorized",
            "detail": "log in first: this action needs a dashboard session",
        },
        status_code=401,
        headers={"HX-Redirect": "/login"},
    )


def dashboard_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The exception handler of the dashboard's routes."""
    if isinstance(exc, LoginRequired):
        return _login_required(request)
    if isinstance(exc, msgspec.ValidationError):
        status, error, detail = 400, "bad_request", str(exc)
    else:
        answer = handle_exception(request, exc)
        body = answer.content
        status = answer.status_code or 500
        error = getattr(body, "error", "error")
        detail = getattr(body, "detail", "")
    return Template(
        template_name="error.html",
        context={"nav": "", "status": status, "error": error, "detail": detail},
        status_code=status,
    )
