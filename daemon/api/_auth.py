"""The bearer token: every state-changing request must carry it.

A guard on the whole app: a request whose method changes state (POST, PUT, PATCH,
DELETE) needs ``Authorization: Bearer <token>``, compared in constant time
(:func:`hmac.compare_digest`), before its body is read. Reads (GET, HEAD, OPTIONS) are
open: the daemon binds to loopback unless a token is configured.

The dashboard's routes say so with ``opt={SESSION_AUTH: True}``: a browser does not send
the bearer token, so they are guarded by a session and a CSRF token instead
(:mod:`actorgrid.daemon.dashboard`).
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from ._errors import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from litestar.connection import ASGIConnection
    from litestar.handlers.base import BaseRouteHandler

__all__ = ("SESSION_AUTH", "STATE_CHANGING", "token_guard")

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_AUTH = "session_auth"
"""The ``opt`` key of routes guarded by a dashboard session rather than the bearer token."""
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="actorgrid"'}


def token_guard(
    token: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Coroutine[Any, Any, None]]:
    """Return the guard that checks the bearer token of state-changing requests.

    It is a coroutine function: Litestar runs a plain function guard in a worker thread,
    a thread hop on every request that cost a third of a publish's time.
    """
    expected = token.encode("utf-8")

    async def guard(
        connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        if connection.scope.get("method", "GET") not in STATE_CHANGING:
            return
        if handler.opt.get(SESSION_AUTH):
            return
        header = connection.headers.get("authorization")
        if header is None:
            raise ApiError(
                401,
                "unauthorized",
                "this request changes state: send Authorization: Bearer <token>",
                _CHALLENGE,
            )
        scheme, _sep, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            raise ApiError(
                401, "unauthorized", "expected Authorization: Bearer <token>", _CHALLENGE
            )
        if not hmac.compare_digest(given.strip().encode("utf-8"), expected):
            raise ApiError(401, "unauthorized", "the bearer token is wrong", _CHALLENGE)

    return guard
