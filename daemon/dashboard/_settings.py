"""``[dashboard]``: how long a login token and an idle session last."""

from __future__ import annotations

import msgspec

__all__ = ("DashboardSettings",)


class DashboardSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The dashboard's sessions.

    Attributes:
        session_idle_seconds: a session ends after this long without a request.
        login_token_seconds: an unused one-time login token is refused after this long.
        max_sessions: at most this many sessions are open; a new one closes the least
            recently used.
        cookie_secure: mark the session and CSRF cookies ``Secure`` (set it when the
            daemon is reached over HTTPS through a proxy; the daemon itself speaks HTTP).
    """

    session_idle_seconds: float = 3600.0
    login_token_seconds: float = 86400.0
    max_sessions: int = 100
    cookie_secure: bool = False

    def __post_init__(self) -> None:
        if self.session_idle_seconds <= 0 or self.login_token_seconds <= 0:
            raise ValueError("session_idle_seconds and login_token_seconds must be > 0")
        if self.max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
