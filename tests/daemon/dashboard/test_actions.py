"""The dashboard's actions: each works with a session and the CSRF token, and without
either is refused (401 or 403) and changes nothing; the bearer API is not asked for a
CSRF token."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from .conftest import TOKEN, csrf_of

if TYPE_CHECKING:
    import httpx

    from actorgrid import DeliveryContext

    from .conftest import Dash


class Declined(Exception):
    pass


async def _handler(dash: Dash) -> None:
    """``free``: ``s*`` payloads fail their first attempt (a scheduled retry), ``d*`` ones
    fail for good the first time (a dead letter) and succeed when replayed."""
    seen: set[str] = set()

    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        text = str(payload)
        if text.startswith("s") and ctx.attempt == 1:
            raise ValueError(f"flaky {text}")
        if text.startswith("d") and text not in seen:
            seen.add(text)
            raise Declined(f"card declined {text}")

    await dash.rt.subscribe("free", handler, non_retryable=(Declined,))


async def _until(dash: Dash, sql: str, expected: list[tuple[Any, ...]]) -> None:
    with anyio.fail_after(10):
        while dash.query(sql) != expected:
            await dash.rt.flush()
            await anyio.sleep(0.01)


async def _scheduled(dash: Dash, *payloads: str) -> list[str]:
    await _handler(dash)
    for p in payloads:
        await dash.rt.publish("free", p, target=("acct", p))
    await _until(dash, "SELECT count(*) FROM messages WHERE state='scheduled'", [(len(payloads),)])
    page = await dash.rt.scheduled(limit=100)
    by_target = {m.target_id: m.id for m in page.items}
    return [by_target[p] for p in payloads]


async def _dead(dash: Dash, *payloads: str) -> list[str]:
    await _handler(dash)
    for p in payloads:
        await dash.rt.publish("free", p, target=("acct", p))
    await _until(dash, "SELECT count(*) FROM dead_letters", [(len(payloads),)])
    rows = dash.query("SELECT id, target_id FROM dead_letters")
    by_target = {target: dl_id for dl_id, target in rows}
    return [by_target[p] for p in payloads]


async def _anonymous(dash: Dash) -> tuple[httpx.AsyncClient, str]:
    """A browser with a valid CSRF cookie and token but no session."""
    client = dash.client()
    r = await client.get("/login")
    return client, csrf_of(r.text)


async def _refused(dash: Dash, path: str, data: dict[str, str]) -> None:
    """Without a session (CSRF token valid) 401; with a session but no CSRF token, or a
    forged one, 403; nothing changes."""
    before = dash.fingerprint()
    anonymous, csrf = await _anonymous(dash)
    r = await anonymous.post(path, data={**data, "_csrf_token": csrf})
    assert r.status_code == 401, r.text
    htmx = await anonymous.post(path, data=data, headers={"x-csrftoken": csrf, "hx-request": "1"})
    assert htmx.status_code == 401
    assert htmx.headers["hx-redirect"] == "/login"
    browser, good = await dash.browser()
    assert (await browser.post(path, data=data)).status_code == 403
    forged = good[:-4] + ("0000" if not good.endswith("0000") else "1111")
    assert (await browser.post(path, data={**data, "_csrf_token": forged})).status_code == 403
    other, _ = await dash.browser()
    stranger = {"x-csrftoken": good}  # another browser's token, not its own cookie's
    assert (await other.post(path, data=data, headers=stranger)).status_code == 403
    await dash.rt.flush()
    assert dash.fingerprint() == before


async def test_the_scheduled_retries_page_lists_them_with_phase_and_error(dash: Dash) -> None:
    ids = await _scheduled(dash, "s1", "s2")
    browser, _ = await dash.browser()
    r = await browser.get("/ui/retries")
    assert r.status_code == 200
    for message_id in ids:
        assert f'data-message-id="{message_id}"' in r.text
    assert "ValueError: flaky s1" in r.text
    assert ">base<" in r.text
    one = await browser.get("/ui/retries", params={"target_id": "s2"})
    assert ids[1] in one.text
    assert ids[0] not in one.text
    none = await browser.get("/ui/retries", params={"phase": "revise"})
    assert ids[0] not in none.text
    assert "No scheduled retries match" in none.text


@pytest.mark.parametrize("action", ["kill", "delete", "now"])
async def test_a_scheduled_retry_action_needs_the_session_and_the_csrf_token(
    dash: Dash, action: str
) -> None:
    (message_id,) = await _scheduled(dash, "s1")
    await _refused(dash, f"/ui/retries/{message_id}/{action}", {"back": "/ui/retries"})


async def test_kill_files_a_dead_letter_and_delete_removes_it(dash: Dash) -> None:
    killed, deleted = await _scheduled(dash, "s1", "s2")
    browser, csrf = await dash.browser()
    back = "/ui/retries?topic=free"
    r = await browser.post(f"/ui/retries/{killed}/kill", data={"_csrf_token": csrf, "back": back})
    assert r.status_code == 303
    assert r.headers["location"].startswith("/ui/retries?topic=free&msg=Killed")
    assert dash.query("SELECT reason, message_id FROM dead_letters") == [("killed", killed)]
    r = await browser.post(
        f"/ui/retries/{deleted}/delete", data={"_csrf_token": csrf, "back": back}
    )
    assert r.status_code == 303
    assert dash.query("SELECT count(*) FROM messages WHERE id = ?", deleted) == [(0,)]
    page = await browser.get(r.headers["location"])
    assert f"Deleted {deleted}." in page.text


async def test_retry_now_asks_for_the_explicit_early_retry(dash: Dash) -> None:
    (message_id,) = await _scheduled(dash, "s1")
    browser, csrf = await dash.browser()
    r = await browser.post(f"/ui/retries/{message_id}/now", data={"_csrf_token": csrf})
    assert r.status_code == 303
    page = await browser.get(r.headers["location"])
    assert f"Retry of {message_id}" in page.text


async def test_an_unknown_message_is_a_404_page(dash: Dash) -> None:
    browser, csrf = await dash.browser()
    r = await browser.post("/ui/retries/nope/kill", data={"_csrf_token": csrf})
    assert r.status_code == 404
    assert "scheduled_not_found" in r.text


async def test_back_never_leaves_the_page(dash: Dash) -> None:
    (message_id,) = await _scheduled(dash, "s1")
    browser, csrf = await dash.browser()
    r = await browser.post(
        f"/ui/retries/{message_id}/delete",
        data={"_csrf_token": csrf, "back": "https://evil.example/ui/retries"},
    )
    assert r.headers["location"].startswith("/ui/retries?msg=")


async def test_the_dead_letters_page_filters_and_shows_one_whole(dash: Dash) -> None:
    first, second = await _dead(dash, "d1", "d2")
    browser, _ = await dash.browser()
    listing = await browser.get("/ui/dead-letters")
    assert f'data-dead-letter-id="{first}"' in listing.text
    assert f'data-dead-letter-id="{second}"' in listing.text
    found = await browser.get("/ui/dead-letters", params={"q": "declined d2"})
    assert second in found.text
    assert first not in found.text
    shown = await browser.get(f"/ui/dead-letters/{first}")
    assert shown.status_code == 200
    assert "Declined: card declined d1" in shown.text  # the traceback
    assert "non_retryable" in shown.text
    assert "&#34;d1&#34;" in shown.text or '"d1"' in shown.text  # the payload
    missing = await browser.get("/ui/dead-letters/nope")
    assert missing.status_code == 404


@pytest.mark.parametrize("action", ["replay", "purge"])
async def test_a_dead_letter_action_needs_the_session_and_the_csrf_token(
    dash: Dash, action: str
) -> None:
    (dead,) = await _dead(dash, "d1")
    await _refused(dash, f"/ui/dead-letters/{action}", {"id": dead, "confirm": "yes"})
    await _refused(dash, f"/ui/dead-letters/{action}", {"everything": "true", "confirm": "yes"})


async def test_replay_one_after_its_confirmation_and_see_it_processed(dash: Dash) -> None:
    (dead,) = await _dead(dash, "d1")
    browser, _ = await dash.browser()
    confirm = await browser.get("/ui/dead-letters/confirm", params={"action": "replay", "id": dead})
    assert confirm.status_code == 200
    assert "Yes, replay" in confirm.text
    form = {"_csrf_token": csrf_of(confirm.text), "id": dead}
    unconfirmed = await browser.post("/ui/dead-letters/replay", data=form)
    assert unconfirmed.status_code == 400
    assert dash.query("SELECT count(replayed_at) FROM dead_letters") == [(0,)]
    r = await browser.post("/ui/dead-letters/replay", data={**form, "confirm": "yes"})
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/ui/dead-letters/{dead}?msg=Replayed")
    with anyio.fail_after(10):
        while (
            'data-state="processed"'
            not in (page := await browser.get(f"/ui/dead-letters/{dead}")).text
        ):
            await dash.rt.flush()
            await anyio.sleep(0.02)
    assert "processed" in page.text


async def test_purge_one_after_its_confirmation(dash: Dash) -> None:
    kept, purged = await _dead(dash, "d1", "d2")
    browser, csrf = await dash.browser()
    r = await browser.post(
        "/ui/dead-letters/purge", data={"_csrf_token": csrf, "id": purged, "confirm": "yes"}
    )
    assert r.status_code == 303
    assert dash.query("SELECT id FROM dead_letters") == [(kept,)]


async def test_a_bulk_replay_is_a_job_whose_progress_the_page_polls(dash: Dash) -> None:
    await _dead(dash, "d1", "d2", "d3")
    browser, _ = await dash.browser()
    confirm = await browser.get(
        "/ui/dead-letters/confirm", params={"action": "replay", "q": "declined"}
    )
    assert "3 dead letters" in confirm.text
    r = await browser.post(
        "/ui/dead-letters/replay",
        data={"_csrf_token": csrf_of(confirm.text), "q": "declined", "confirm": "yes"},
    )
    assert r.status_code == 303
    job_url = r.headers["location"]
    assert job_url.startswith("/ui/jobs/")
    page = await browser.get(job_url)
    assert page.status_code == 200
    assert 'id="job-progress"' in page.text
    with anyio.fail_after(10):
        while True:
            progress = await browser.get(job_url + "/progress")
            if 'data-state="done"' in progress.text:
                break
            await anyio.sleep(0.02)
    assert "hx-trigger" not in progress.text  # finished: it stops polling
    assert "3 replayed" in progress.text
    assert dash.query("SELECT count(replayed_at) FROM dead_letters") == [(3,)]


async def test_a_bulk_purge_deletes_the_filtered_set(dash: Dash) -> None:
    await _dead(dash, "d1", "d2")
    browser, csrf = await dash.browser()
    none = await browser.post(
        "/ui/dead-letters/purge", data={"_csrf_token": csrf, "confirm": "yes"}
    )
    assert none.status_code == 400  # neither a filter nor everything
    assert "bad_selector" in none.text
    r = await browser.post(
        "/ui/dead-letters/purge",
        data={"_csrf_token": csrf, "target_id": "d1", "confirm": "yes"},
    )
    assert r.status_code == 303
    assert "Purged+1" in r.headers["location"]
    assert [t for (t,) in dash.query("SELECT target_id FROM dead_letters")] == ["d2"]


async def test_the_retry_record_look_up_and_its_actions(dash: Dash) -> None:
    await _scheduled(dash, "s1")
    before = await dash.rt.retry_record("acct", "s1")
    assert before is not None
    assert before.attempt_count == 1
    browser, csrf = await dash.browser()
    page = await browser.get("/ui/records", params={"target_type": "acct", "target_id": "s1"})
    assert "Failures this cycle" in page.text
    target = {"target_type": "acct", "target_id": "s1"}
    await _refused(dash, "/ui/records/reset", target)
    await _refused(dash, "/ui/records/early", target)
    early = await browser.post("/ui/records/early", data={**target, "_csrf_token": csrf})
    assert early.status_code == 303
    assert "Early+retry" in early.headers["location"]
    reset = await browser.post("/ui/records/reset", data={**target, "_csrf_token": csrf})
    assert reset.status_code == 303
    await dash.rt.flush()
    record = await dash.rt.retry_record("acct", "s1")
    assert record is None or record.attempt_count == 0
    missing = await browser.post("/ui/records/reset", data={"_csrf_token": csrf})
    assert missing.status_code == 400


async def test_the_patterns_page_shows_the_patterns(dash: Dash) -> None:
    browser, _ = await dash.browser()
    r = await browser.get("/ui/patterns")
    assert r.status_code == 200
    assert "Recurring patterns" in r.text


async def test_the_overview_shows_the_health_of_the_tree(dash: Dash) -> None:
    browser, _ = await dash.browser()
    r = await browser.get("/", params={"range": "24h"})
    assert r.status_code == 200
    assert 'data-range-seconds="86400"' in r.text
    assert 'id="runtime-state">running<' in r.text
    assert "Writer lag" in r.text
    fragment = await browser.get("/ui/fragments/health")
    assert "Mailbox" in fragment.text
    odd = await browser.get("/", params={"range": "forever"})
    assert 'data-range-seconds="3600"' in odd.text


async def test_the_bearer_api_needs_no_csrf_token(dash: Dash) -> None:
    (message_id,) = await _scheduled(dash, "s1")
    api = dash.client()
    r = await api.post(
        f"/v1/retries/{message_id}/kill", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert r.status_code == 200, r.text
    assert "dead_letter_id" in r.json()


async def test_a_session_cookie_is_no_bearer_token_for_the_api(dash: Dash) -> None:
    (message_id,) = await _scheduled(dash, "s1")
    browser, csrf = await dash.browser()
    r = await browser.post(f"/v1/retries/{message_id}/kill", headers={"x-csrftoken": csrf})
    assert r.status_code == 401


async def test_what_a_message_carries_is_escaped_in_the_pages(dash: Dash) -> None:
    (dead,) = await _dead(dash, "d<script>alert(1)</script>")
    browser, _ = await dash.browser()
    for path in ("/ui/dead-letters", f"/ui/dead-letters/{dead}"):
        page = await browser.get(path)
        assert "<script>alert(1)</script>" not in page.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_a_pattern_shows_its_targets_outcomes_and_runbook_chunks(
    dash: Dash, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actorgrid import RecurringPattern
    from actorgrid.actors.patterns import ChunkUse

    pattern = RecurringPattern(
        count=7,
        first_seen=1.0,
        last_seen=2.0,
        targets=("order:o-2", "order:o-22"),
        outcomes={"success": 5, "dead": 2},
        id=3,
        target_count=2,
        example="PaymentTimeout: the gateway did not answer",
        chunks=(ChunkUse(chunk_id=11, source="runbook", count=4),),
    )

    async def patterns() -> list[RecurringPattern]:
        return [pattern]

    monkeypatch.setattr(dash.rt, "recurring_patterns", patterns)
    browser, _ = await dash.browser()
    page = (await browser.get("/ui/patterns")).text
    assert "PaymentTimeout: the gateway did not answer" in page
    assert "target_type=order&amp;target_id=o-22" in page
    assert "success 5" in page
    assert "dead 2" in page
    assert "#11 runbook \u00d74" in page
