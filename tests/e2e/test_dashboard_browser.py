"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright, against
``actorgrid run`` serving the example app (``make run``'s order pipeline).

It logs in through the token URL the daemon logged (``dashboard_url``), sees the charts
fill, kills a scheduled retry, finds that dead letter, opens it, replays it and sees it
processed, replays a filtered set as a job whose progress the page polls, and checks that
an action without the session is refused and changes nothing. It saves a screenshot of
each page to ``$SCREENSHOTS_DIR`` (default: the test's temporary folder);
``SCREENSHOTS_DIR=docs/screenshots`` refreshes the README's.

It skips when Playwright or ``/usr/bin/chromium`` is missing, unless ``REQUIRE_BROWSER=1``
(``.ci/run`` sets it), and then fails.
"""

from __future__ import annotations

import importlib.util
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .conftest import ROOT, WAIT, rows, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from playwright.sync_api import Browser, Page

    from .conftest import Daemon

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXAMPLE_ENV = {
    "ACTORGRID_DAEMON__APP": "examples.app:app",
    "ACTORGRID_PATTERN__ENABLED": "true",
    # Longer windows than make run's, so that a scheduled retry stays long enough to be
    # clicked: base retries wait a minute, the rate-limited orders' early retry 12 s.
    "ACTORGRID_RETRY__BASE_WAIT_MINUTES": "1",
    "ACTORGRID_RETRY__EARLY_WAIT_MINUTES": "0.2",
}
MS = int(WAIT * 1000)


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium from Debian's package, a fresh profile."""
    missing = _missing()
    if missing is not None:
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"REQUIRE_BROWSER=1 but {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Callable[[Page, str], None]:
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or tmp_path)
    if not folder.is_absolute():
        folder = ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)

    def shot(page: Page, name: str) -> None:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)

    return shot


def _until_row(page: Page, url: str, selector: str) -> Any:
    """Load ``url`` until a row matching ``selector`` shows (the producer makes them)."""
    deadline = time.monotonic() + WAIT
    while True:
        page.goto(url)
        found = page.locator(selector)
        if found.count() > 0:
            return found.first
        if time.monotonic() > deadline:
            raise AssertionError(f"no {selector} at {url} within {WAIT} s")
        page.wait_for_timeout(500)


def test_an_operator_session_in_the_browser(
    browser: Browser, start: Callable[..., Daemon], db: Path, shots: Callable[[Page, str], None]
) -> None:
    d = start("--config", "examples/actorgrid.toml", env=EXAMPLE_ENV).started()
    login_url = d.wait_for("dashboard_url")["url"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/login\?token=[\w-]{40,}", login_url)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(MS)
    page = context.new_page()

    # Without a session every page sends to the login.
    page.goto(d.url + "/ui/dead-letters")
    assert "/login?next=" in page.url
    shots(page, "login")

    # 2. Log in through the token URL.
    page.goto(login_url)
    assert page.url == d.url + "/"
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["actorgrid_session"]["httpOnly"] is True
    assert cookies["actorgrid_session"]["sameSite"] == "Strict"

    # 3. The charts fill: the analytics answer, and uPlot draws every chart.
    page.wait_for_selector('#analytics[data-state="ready"]')
    assert page.locator("#analytics canvas").count() >= 4
    assert int(page.get_attribute("#analytics", "data-published") or 0) > 0
    assert page.locator('[data-figure="retry_rate"]').inner_text().endswith("%")

    # 6. Kill a scheduled retry: a rate-limited order waiting for its early retry.
    message_id = None
    for _ in range(5):
        row = _until_row(page, d.url + "/ui/retries?error_type=RateLimited", "#retries tbody tr")
        message_id = row.get_attribute("data-message-id")
        shots(page, "retries")
        row.get_by_role("button", name="Kill").click()
        if page.locator(".flash").count():
            break  # a 409 (its attempt had started) shows an error page instead: try again
    assert message_id is not None
    assert f"Killed {message_id}" in page.locator(".flash").inner_text()
    killed = rows(db, "SELECT id, target_id FROM dead_letters WHERE message_id = ?", message_id)
    assert len(killed) == 1
    dead_letter_id, target_id = killed[0]

    # 4. Find that dead letter, open it and replay it.
    page.goto(d.url + "/ui/dead-letters?reason=killed")
    shots(page, "dead_letters")
    page.locator(f'tr[data-dead-letter-id="{dead_letter_id}"] a').first.click()
    assert page.url == f"{d.url}/ui/dead-letters/{dead_letter_id}"
    assert "RateLimited" in page.locator("main").inner_text()
    shots(page, "dead_letter")
    page.locator("#replay").click()
    shots(page, "confirm")
    page.locator("#confirm-button").click()
    assert "Replayed as message" in page.locator(".flash").inner_text()

    # 5. See it processed: its early retry ran after the window and the order was paid.
    deadline = time.monotonic() + WAIT
    while page.get_attribute("#replay-outcome", "data-state") != "processed":
        assert time.monotonic() < deadline, page.locator("#replay-outcome").inner_text()
        page.wait_for_timeout(1000)
        page.reload()
    shots(page, "dead_letter_replayed")

    # A filtered set: the bad-credential orders, replayed as a job the page follows.
    _until_row(page, d.url + "/ui/dead-letters?error_type=BadCredentials", "#dead-letters tr")
    page.get_by_role("link", name="Replay these…").click()
    page.locator("#confirm-button").click()
    assert "/ui/jobs/" in page.url
    page.wait_for_selector('#job-progress[data-state="done"]')
    shots(page, "job")

    page.goto(d.url + "/ui/patterns")
    shots(page, "patterns")
    page.goto(f"{d.url}/ui/records?target_type=order&target_id={target_id}")
    assert "Last success" in page.locator("#record").inner_text()
    shots(page, "record")

    # The overview again, with the run's retries, dead letters and replays in its charts.
    page.goto(d.url + "/")
    page.wait_for_selector('#analytics[data-state="ready"]')
    page.wait_for_selector('#alerts:not([data-state="loading"])')
    shots(page, "overview")

    # 7. An action without the session is refused and changes nothing.
    waiting = _until_row(page, d.url + "/ui/retries?error_type=PaymentTimeout", "#retries tbody tr")
    victim = waiting.get_attribute("data-message-id")
    stranger = browser.new_context()
    try:
        other = stranger.new_page()
        other.goto(d.url + "/login")
        csrf = other.locator('input[name="_csrf_token"]').first.get_attribute("value")
        assert csrf
        refused = other.request.post(
            f"{d.url}/ui/retries/{victim}/kill", form={"_csrf_token": csrf}
        )
        assert refused.status == 401
        forged = other.request.post(f"{d.url}/ui/retries/{victim}/kill")
        assert forged.status == 403
    finally:
        stranger.close()
    assert rows(db, "SELECT count(*) FROM dead_letters WHERE message_id = ?", victim) == [(0,)]
    assert rows(db, "SELECT state FROM messages WHERE id = ?", victim) in ([("scheduled",)], [])
    context.close()
    wait_until(lambda: d.stop() == 0, "the daemon stops cleanly")


def test_actorgrid_dashboard_mints_a_login_url(start: Callable[..., Daemon]) -> None:
    """The CLI asks the daemon for a fresh one-time URL; it logs in once."""
    import subprocess
    import sys

    import httpx

    d = start().started()
    config = d.db.with_suffix(".toml")
    host_port = d.url.removeprefix("http://")
    config.write_text(
        f'[daemon]\nhost = "{host_port.rsplit(":", 1)[0]}"\nport = {host_port.rsplit(":", 1)[1]}\n'
        f'[storage]\nurl = "sqlite+aiosqlite:///{d.db}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTORGRID_")}
    done = subprocess.run(
        [sys.executable, "-m", "actorgrid.daemon.cli", "dashboard", "--config", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    url = done.stdout.split()[0]
    assert url.startswith(d.url + "/login?token=")
    with httpx.Client(timeout=WAIT) as http:
        first = http.get(url)
        assert first.status_code == 303
        assert "actorgrid_session=" in first.headers["set-cookie"]
        assert http.get(url).status_code == 401
