"""The dashboard's logins: one-time login tokens and the server-side session store.

The Jupyter convention: the daemon mints a login token at start and prints a URL carrying
it; ``GET /login?token=`` spends it (once) for a session. A session is a random id in an
HttpOnly, SameSite=Strict cookie; what it stands for lives here, in memory, and ends after
``session_idle_seconds`` without a request (or at logout, or when the daemon stops).
Tokens and session ids are kept as SHA-256 digests, so a lookup compares no secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._settings import DashboardSettings

if TYPE_CHECKING:
    from actorgrid import Clock

__all__ = ("DashboardAuth", "LoginToken", "Session", "default_auth")


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class LoginToken:
    """A freshly minted login token (its value is shown once, then only its digest is kept)."""

    token: str
    expires_at: float
    """Monotonic time after which it is refused unused."""

    def url(self, base: str) -> str:
        """The login URL under ``base`` (``http://host:port``)."""
        return f"{base.rstrip('/')}/login?token={self.token}"


@dataclass(slots=True)
class Session:
    """One logged-in browser."""

    created_at: float
    last_seen: float
    via: str
    """How it logged in: ``login_token`` or ``api_token``."""


class DashboardAuth:
    """The login tokens and sessions of one daemon run.

    Args:
        api_token: the daemon's bearer token; the login form accepts it too.
        settings: the idle expiry, the login tokens' lifetime, the session cap.
        clock: the source of monotonic time (a ``FakeClock`` in tests).
    """

    SESSION_COOKIE = "actorgrid_session"

    def __init__(self, api_token: str, settings: DashboardSettings, clock: Clock) -> None:
        self._api_token = api_token.encode("utf-8")
        self.settings = settings
        self._clock = clock
        self._tokens: dict[bytes, float] = {}
        self._sessions: OrderedDict[bytes, Session] = OrderedDict()
        self.csrf_secret = secrets.token_hex(32)
        """The key of the CSRF tokens' HMAC; new at every start, like the sessions."""

    # -- login tokens ------------------------------------------------------------------

    def mint(self) -> LoginToken:
        """A new one-time login token, valid for ``login_token_seconds`` unused."""
        self._drop_expired_tokens()
        token = secrets.token_urlsafe(32)
        expires_at = self._clock.monotonic() + self.settings.login_token_seconds
        self._tokens[_digest(token)] = expires_at
        return LoginToken(token, expires_at)

    def spend(self, token: str) -> bool:
        """Spend a login token: True when it was valid and unused (it is not any more)."""
        expires_at = self._tokens.pop(_digest(token), None)
        return expires_at is not None and self._clock.monotonic() <= expires_at

    def is_api_token(self, given: str) -> bool:
        """Whether ``given`` is the daemon's bearer token (constant-time comparison)."""
        return hmac.compare_digest(given.encode("utf-8"), self._api_token)

    def _drop_expired_tokens(self) -> None:
        now = self._clock.monotonic()
        for key in [k for k, at in self._tokens.items() if at < now]:
            del self._tokens[key]

    # -- sessions ----------------------------------------------------------------------

    def open_session(self, via: str) -> str:
        """Start a session; return its id (the cookie's value). The least recently used
        session is closed when ``max_sessions`` are open."""
        self._drop_idle()
        while len(self._sessions) >= self.settings.max_sessions:
            self._sessions.popitem(last=False)
        session_id = secrets.token_urlsafe(32)
        now = self._clock.monotonic()
        self._sessions[_digest(session_id)] = Session(created_at=now, last_seen=now, via=via)
        return session_id

    def session(self, session_id: str | None) -> Session | None:
        """The live session of this cookie value (its idle time starts again), else None."""
        if not session_id:
            return None
        key = _digest(session_id)
        found = self._sessions.get(key)
        if found is None:
            return None
        now = self._clock.monotonic()
        if now - found.last_seen > self.settings.session_idle_seconds:
            del self._sessions[key]
            return None
        found.last_seen = now
        self._sessions.move_to_end(key)
        return found

    def close_session(self, session_id: str | None) -> None:
        """End a session (logout); an unknown one is ignored."""
        if session_id:
            self._sessions.pop(_digest(session_id), None)

    @property
    def open_sessions(self) -> int:
        """Sessions not ended nor idle past the expiry."""
        self._drop_idle()
        return len(self._sessions)

    def _drop_idle(self) -> None:
        now = self._clock.monotonic()
        idle = self.settings.session_idle_seconds
        for key in [k for k, s in self._sessions.items() if now - s.last_seen > idle]:
            del self._sessions[key]


def default_auth(api_token: str) -> DashboardAuth:
    """The dashboard's logins with the default settings on the system clock."""
    from actorgrid import SystemClock

    return DashboardAuth(api_token, DashboardSettings(), SystemClock())
