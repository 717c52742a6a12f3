"""Logging in to the dashboard: the one-time token URL (spent once, expiring), the login
form with the API token, the session cookie's attributes, idle expiry, logout; every page
needs the session."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .conftest import TOKEN, csrf_of

if TYPE_CHECKING:
    from .conftest import Dash

PAGES = ["/", "/ui/retries", "/ui/dead-letters", "/ui/patterns", "/ui/records"]


def _cookie_attributes(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


async def test_the_token_url_logs_in_once_with_a_strict_httponly_cookie(dash: Dash) -> None:
    browser = dash.client()
    url = dash.auth.mint().url(dash.base)
    r = await browser.get(url)
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("actorgrid_session="))
    value = cookie.split(";")[0].split("=", 1)[1]
    assert len(value) >= 40  # 32 random bytes, URL-safe
    attrs = _cookie_attributes(cookie)
    assert {"httponly", "path=/", "samesite=strict"} <= attrs
    assert not any(a.startswith(("max-age", "expires")) for a in attrs)  # a browser session
    assert (await browser.get("/")).status_code == 200

    other = dash.client()
    again = await other.get(url)
    assert again.status_code == 401
    assert "used already or has expired" in again.text
    assert "actorgrid_session" not in again.headers.get("set-cookie", "")
    assert (await other.get("/")).status_code == 303


async def test_an_unused_login_token_expires(dash: Dash) -> None:
    url = dash.auth.mint().url(dash.base)
    dash.clock.advance(dash.auth.settings.login_token_seconds + 1)
    assert (await dash.client().get(url)).status_code == 401


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_needs_a_session(dash: Dash, path: str) -> None:
    r = await dash.client().get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login")
    browser, _ = await dash.browser()
    assert (await browser.get(path)).status_code == 200


async def test_after_the_login_it_goes_where_it_was_sent_from(dash: Dash) -> None:
    browser = dash.client()
    r = await browser.get("/ui/dead-letters")
    assert r.headers["location"] == "/login?next=%2Fui%2Fdead-letters"
    form = await browser.get(r.headers["location"])
    r = await browser.post(
        "/login",
        data={"token": TOKEN, "next": "/ui/dead-letters", "_csrf_token": csrf_of(form.text)},
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/ui/dead-letters"
    assert (await browser.get("/ui/dead-letters")).status_code == 200


async def test_next_never_leaves_the_dashboard(dash: Dash) -> None:
    browser = dash.client()
    url = dash.auth.mint().url(dash.base) + "&next=//evil.example/ui/"
    r = await browser.get(url)
    assert r.headers["location"] == "/"


async def test_the_login_form_takes_the_api_token_and_refuses_others(dash: Dash) -> None:
    browser = dash.client()
    form = await browser.get("/login")
    assert form.status_code == 200
    csrf = csrf_of(form.text)
    wrong = await browser.post("/login", data={"token": "not-it", "_csrf_token": csrf})
    assert wrong.status_code == 401
    assert (await browser.get("/")).status_code == 303
    right = await browser.post("/login", data={"token": TOKEN, "_csrf_token": csrf})
    assert right.status_code == 303
    assert (await browser.get("/")).status_code == 200


async def test_the_login_form_needs_the_csrf_token(dash: Dash) -> None:
    browser = dash.client()
    await browser.get("/login")
    r = await browser.post("/login", data={"token": TOKEN})
    assert r.status_code == 403
    assert (await browser.get("/")).status_code == 303


async def test_a_session_ends_when_idle(dash: Dash) -> None:
    browser, _ = await dash.browser()
    dash.clock.advance(dash.auth.settings.session_idle_seconds - 1)
    assert (await browser.get("/")).status_code == 200
    dash.clock.advance(dash.auth.settings.session_idle_seconds + 1)
    assert (await browser.get("/")).status_code == 303


async def test_logout_ends_the_session(dash: Dash) -> None:
    browser, csrf = await dash.browser()
    cookie = browser.cookies["actorgrid_session"]
    r = await browser.post("/logout", data={"_csrf_token": csrf})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert (await browser.get("/")).status_code == 303
    replayed = dash.client()
    replayed.cookies.set("actorgrid_session", cookie)
    assert (await replayed.get("/")).status_code == 303


async def test_the_api_mints_a_login_url_with_the_bearer_token(dash: Dash) -> None:
    api = dash.client()
    refused = await api.post("/v1/dashboard/login-url")
    assert refused.status_code == 401
    r = await api.post("/v1/dashboard/login-url", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 201, r.text
    minted = r.json()
    assert minted["url"].startswith(f"{dash.base}/login?token=")
    assert minted["expires_in"] == dash.auth.settings.login_token_seconds
    browser = dash.client()
    assert (await browser.get(minted["url"])).status_code == 303
    assert (await browser.get("/")).status_code == 200


async def test_static_assets_are_served_from_the_package(dash: Dash) -> None:
    client = dash.client()
    for path in (
        "/ui/static/dashboard.js",
        "/ui/static/dashboard.css",
        "/ui/static/vendor/uplot/uPlot.iife.min.js",
        "/ui/static/vendor/htmx/htmx.min.js",
    ):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert len(r.content) > 1000, path
