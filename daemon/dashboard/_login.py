"""Logging in and out: the one-time token URL, the login form, logout, and the API route
that mints a fresh login URL (``actorgrid dashboard``)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.response import Redirect, Template

from ._guard import auth_of
from ._sessions import DashboardAuth
from ._web import clean

__all__ = ("LoginUrl", "login_api_router", "login_handlers")


def _next_of(value: Any) -> str:
    """Where to go after the login: a page of ours, else the overview (no open redirect)."""
    text = clean(value) or "/"
    return text if text == "/" or (text.startswith("/ui/") and "//" not in text) else "/"


def _logged_in(request: Request[Any, Any, Any], via: str, target: str) -> Response[Any]:
    auth = auth_of(request)
    auth.close_session(request.cookies.get(DashboardAuth.SESSION_COOKIE))
    session_id = auth.open_session(via)
    response: Response[Any] = Redirect(target, status_code=303)
    response.set_cookie(
        DashboardAuth.SESSION_COOKIE,
        session_id,
        path="/",
        httponly=True,
        samesite="strict",
        secure=auth.settings.cookie_secure,
    )
    return response


def _form(error: str | None, target: str, status: int) -> Template:
    return Template(
        template_name="login.html",
        context={"nav": "login", "error": error, "next": target},
        status_code=status,
    )


@get("/login", summary="Log in (the one-time token URL, or the login form)")
async def login_page(request: Request[Any, Any, Any]) -> Response[Any] | Template:
    """``?token=`` spends a login token for a session; without one, the login form."""
    target = _next_of(request.query_params.get("next"))
    token = clean(request.query_params.get("token"))
    auth = auth_of(request)
    if token is not None:
        if auth.spend(token):
            return _logged_in(request, "login_token", target)
        problem = (
            "This login link was used already or has expired. Run `actorgrid dashboard` for a "
            "new one, or log in with the daemon's API token."
        )
        return _form(problem, target, 401)
    if auth.session(request.cookies.get(DashboardAuth.SESSION_COOKIE)) is not None:
        return Redirect(target, status_code=303)
    return _form(None, target, 200)


@post("/login", summary="Log in with the daemon's API token")
async def login_form(request: Request[Any, Any, Any]) -> Response[Any] | Template:
    """The form's ``token`` is the daemon's bearer token (its token file)."""
    form = await request.form()
    target = _next_of(form.get("next"))
    given = clean(form.get("token"))
    if given is None or not auth_of(request).is_api_token(given):
        return _form("That is not the daemon's API token.", target, 401)
    return _logged_in(request, "api_token", target)


@post("/logout", summary="Log out")
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    """End the session and forget its cookie."""
    auth_of(request).close_session(request.cookies.get(DashboardAuth.SESSION_COOKIE))
    response: Response[Any] = Redirect("/login", status_code=303)
    response.delete_cookie(DashboardAuth.SESSION_COOKIE, path="/")
    return response


login_handlers = [login_page, login_form]
"""The login routes (no session needed; the form still needs the CSRF token)."""


class LoginUrl(msgspec.Struct, frozen=True, kw_only=True):
    """A fresh one-time login URL of the dashboard."""

    url: str
    expires_in: float
    """Seconds it stays valid unused."""


@post("/login-url", status_code=201, summary="Mint a one-time dashboard login URL")
async def mint_login_url(request: Request[Any, Any, Any]) -> LoginUrl:
    """A new login URL (bearer token required, like every state-changing API request)."""
    auth = auth_of(request)
    minted = auth.mint()
    base = str(request.base_url).rstrip("/")
    return LoginUrl(url=minted.url(base), expires_in=auth.settings.login_token_seconds)


def login_api_router() -> Router:
    """``POST /v1/dashboard/login-url``."""
    return Router(path="/v1/dashboard", route_handlers=[mint_login_url], tags=["dashboard"])
