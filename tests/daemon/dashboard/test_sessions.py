"""The logins' store on a fake clock: a login token is good once and until it expires, a
session ends after its idle time (each request starts it again), the oldest goes first
past the cap, the API token is recognised."""

from __future__ import annotations

import pytest

from actorgrid.daemon.dashboard import DashboardAuth, DashboardSettings
from actorgrid.kernel import FakeClock

TOKEN = "the-api-token-0123456789"


def _auth(**settings: float) -> tuple[DashboardAuth, FakeClock]:
    clock = FakeClock()
    return DashboardAuth(TOKEN, DashboardSettings(**settings), clock), clock  # type: ignore[arg-type]


def test_a_login_token_is_spent_once() -> None:
    auth, _ = _auth()
    minted = auth.mint()
    assert auth.spend(minted.token)
    assert not auth.spend(minted.token)
    assert not auth.spend("never-minted")


def test_an_unused_login_token_expires() -> None:
    auth, clock = _auth(login_token_seconds=60)
    early, late = auth.mint(), auth.mint()
    clock.advance(59)
    assert auth.spend(early.token)
    clock.advance(2)
    assert not auth.spend(late.token)


def test_the_login_url_carries_the_token() -> None:
    auth, _ = _auth()
    minted = auth.mint()
    assert (
        minted.url("http://127.0.0.1:8765/") == f"http://127.0.0.1:8765/login?token={minted.token}"
    )


def test_a_session_ends_after_its_idle_time_and_each_request_renews_it() -> None:
    auth, clock = _auth(session_idle_seconds=100)
    sid = auth.open_session("login_token")
    clock.advance(90)
    assert auth.session(sid) is not None  # renews it
    clock.advance(90)
    assert auth.session(sid) is not None
    clock.advance(101)
    assert auth.session(sid) is None
    assert auth.open_sessions == 0


def test_logout_ends_a_session_and_unknown_ids_are_no_session() -> None:
    auth, _ = _auth()
    sid = auth.open_session("api_token")
    assert auth.session(sid) is not None
    auth.close_session(sid)
    assert auth.session(sid) is None
    assert auth.session("") is None
    assert auth.session(None) is None
    assert auth.session("forged") is None


def test_past_the_cap_the_least_recently_used_session_is_closed() -> None:
    auth, clock = _auth(max_sessions=2)
    first, second = auth.open_session("login_token"), auth.open_session("login_token")
    clock.advance(1)
    assert auth.session(first) is not None  # now second is the least recently used
    third = auth.open_session("login_token")
    assert auth.session(second) is None
    assert auth.session(first) is not None
    assert auth.session(third) is not None


def test_the_api_token_is_recognised() -> None:
    auth, _ = _auth()
    assert auth.is_api_token(TOKEN)
    assert not auth.is_api_token(TOKEN + "x")
    assert not auth.is_api_token("")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        DashboardSettings(session_idle_seconds=0)
    with pytest.raises(ValueError, match="max_sessions"):
        DashboardSettings(max_sessions=0)
