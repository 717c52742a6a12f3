"""Scheduled retries over HTTP: list (filters, keyset pages), show, retry now, kill, delete;
a kill or delete of a message whose attempt is running is refused and changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from .conftest import AUTH

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from .conftest import Served


class Boom(Exception):
    pass


async def _failing(served: Served, *, block: anyio.Event | None = None) -> anyio.Event:
    """Subscribe ``free`` to a handler that fails every first attempt (``Boom`` for payloads
    that start with ``b``, ``ValueError`` otherwise); a later attempt waits for ``block``."""
    started = anyio.Event()

    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        if ctx.attempt > 1:
            started.set()
            if block is not None:
                await block.wait()
            return
        if str(payload).startswith("b"):
            raise Boom(f"boom {payload}")
        raise ValueError(f"bad {payload}")

    await served.rt.subscribe("free", handler, concurrency=2)
    return started


async def _publish(served: Served, payload: str, target: list[str] | None = None) -> str:
    body: dict[str, Any] = {"payload": payload}
    if target is not None:
        body["target"] = target
    r = await served.client.post("/v1/topics/free/messages", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    message_id: str = r.json()["id"]
    return message_id


async def _scheduled(served: Served, count: int) -> list[dict[str, Any]]:
    with anyio.fail_after(10):
        while True:
            await served.settle()
            r = await served.client.get("/v1/retries", params={"limit": 100})
            items: list[dict[str, Any]] = r.json()["items"]
            if len(items) >= count:
                return items
            await anyio.sleep(0.01)


async def test_list_filters_and_pages_the_scheduled_retries(served: Served) -> None:
    await _failing(served)
    ids = [await _publish(served, p, ["order", p]) for p in ("a1", "b2", "a3", "b4", "a5")]
    items = await _scheduled(served, 5)
    assert {i["id"] for i in items} == set(ids)
    first = next(i for i in items if i["id"] == ids[1])
    assert first["attempts"] == 1
    assert first["phase"] == "base"
    assert first["last_error_type"] == "Boom"
    assert first["last_error"] == "Boom: boom b2"
    assert first["in_flight"] is False
    assert first["next_attempt_at"] > served.clock.now()

    boom = (await served.client.get("/v1/retries", params={"error_type": "Boom"})).json()
    assert {i["id"] for i in boom["items"]} == {ids[1], ids[3]}
    one = (await served.client.get("/v1/retries", params={"target_id": "a3"})).json()
    assert [i["id"] for i in one["items"]] == [ids[2]]
    assert (await served.client.get("/v1/retries", params={"topic": "orders"})).json()[
        "items"
    ] == []

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        page = (await served.client.get("/v1/retries", params=params)).json()
        seen.extend(i["id"] for i in page["items"])
        cursor = page["next"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == 5

    shown = await served.client.get(f"/v1/retries/{ids[0]}")
    assert shown.status_code == 200
    assert shown.json()["id"] == ids[0]


async def test_bad_filters_and_unknown_ids_are_4xx_that_change_nothing(served: Served) -> None:
    await _failing(served)
    await _publish(served, "a1")
    await _scheduled(served, 1)
    before = served.fingerprint()
    for params, status in (
        ({"limit": 0}, 400),
        ({"limit": 1001}, 400),
        ({"limit": "ten"}, 400),
        ({"cursor": "not-a-cursor"}, 400),
        ({"topic": ""}, 400),
        ({"error_type": "x" * 256}, 400),
    ):
        r = await served.client.get("/v1/retries", params=params)
        assert r.status_code == status, (params, r.text)
        assert r.json()["error"] in ("bad_request", "invalid_argument")
    for method, path in (
        ("GET", "/v1/retries/nope"),
        ("POST", "/v1/retries/nope/now"),
        ("POST", "/v1/retries/nope/kill"),
        ("DELETE", "/v1/retries/nope"),
    ):
        r = await served.client.request(method, path, headers=AUTH)
        assert r.status_code == 404, (path, r.text)
        assert r.json() == {"error": "scheduled_not_found", "detail": "no scheduled message 'nope'"}
    await served.settle()
    assert served.fingerprint() == before


async def test_kill_files_a_dead_letter_with_the_last_error_and_the_record(served: Served) -> None:
    await _failing(served)
    message_id = await _publish(served, "b1", ["order", "o-1"])
    await _scheduled(served, 1)
    r = await served.client.post(f"/v1/retries/{message_id}/kill", headers=AUTH)
    assert r.status_code == 200, r.text
    dead_letter_id = r.json()["dead_letter_id"]
    assert served.query("SELECT state FROM messages WHERE id=?", message_id) == [("dead",)]
    rows = served.query(
        "SELECT reason, error_type, error_message, message_id, retry_record IS NOT NULL "
        "FROM dead_letters WHERE id=?",
        dead_letter_id,
    )
    assert rows == [("killed", "Boom", "boom b1", message_id, 1)]
    assert (await served.client.get("/v1/retries")).json()["items"] == []
    shown = (await served.client.get(f"/v1/dead-letters/{dead_letter_id}")).json()
    assert shown["entry"]["retry_record"]["attempt_count"] == 1
    again = await served.client.post(f"/v1/retries/{message_id}/kill", headers=AUTH)
    assert again.status_code == 404


async def test_delete_removes_the_row_and_the_timetable_entry(served: Served) -> None:
    await _failing(served)
    message_id = await _publish(served, "a1")
    kept = await _publish(served, "a2")
    await _scheduled(served, 2)
    r = await served.client.delete(f"/v1/retries/{message_id}", headers=AUTH)
    assert r.status_code == 204, r.text
    assert served.query("SELECT id FROM messages WHERE id=?", message_id) == []
    items = (await served.client.get("/v1/retries")).json()["items"]
    assert [i["id"] for i in items] == [kept]
    assert served.query("SELECT count(*) FROM dead_letters") == [(0,)]


async def test_retry_now_follows_the_policy_and_runs_the_attempt(served: Served) -> None:
    started = await _failing(served)
    message_id = await _publish(served, "a1")
    await _scheduled(served, 1)
    early = await served.client.post(f"/v1/retries/{message_id}/now", headers=AUTH)
    assert early.status_code == 200, early.text
    denied = early.json()
    assert denied["granted"] is False  # the early wait (20 minutes) has not passed
    assert denied["message_id"] == message_id
    assert denied["retry_after"] > served.clock.now()
    served.clock.advance(21 * 60)
    granted = (await served.client.post(f"/v1/retries/{message_id}/now", headers=AUTH)).json()
    assert granted["granted"] is True
    assert granted["reason"] == "early_retry"
    with anyio.fail_after(10):
        await started.wait()
    with anyio.fail_after(10):
        while served.query("SELECT state FROM messages WHERE id=?", message_id) != [("done",)]:
            await served.settle()
            await anyio.sleep(0.01)


async def test_a_kill_or_delete_of_a_running_attempt_is_refused_and_changes_nothing(
    served: Served,
) -> None:
    release = anyio.Event()
    started = await _failing(served, block=release)
    message_id = await _publish(served, "b1")
    await _scheduled(served, 1)
    served.clock.advance(21 * 60)
    granted = (await served.client.post(f"/v1/retries/{message_id}/now", headers=AUTH)).json()
    assert granted["granted"] is True
    with anyio.fail_after(10):
        await started.wait()
    await served.settle()
    before = served.fingerprint()
    listed = (await served.client.get(f"/v1/retries/{message_id}")).json()
    assert listed["in_flight"] is True
    for method, path in (
        ("POST", f"/v1/retries/{message_id}/kill"),
        ("DELETE", f"/v1/retries/{message_id}"),
        ("POST", f"/v1/retries/{message_id}/now"),
    ):
        r = await served.client.request(method, path, headers=AUTH)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["error"] == "in_flight"
    await served.settle()
    assert served.fingerprint() == before
    release.set()
    with anyio.fail_after(10):
        while served.query("SELECT state FROM messages WHERE id=?", message_id) != [("done",)]:
            await served.settle()
            await anyio.sleep(0.01)
    assert served.query("SELECT count(*) FROM dead_letters") == [(0,)]
