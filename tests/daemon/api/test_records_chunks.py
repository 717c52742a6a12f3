"""Retry records, reference chunks, recurring patterns, health, readiness and status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from .conftest import AUTH

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from .conftest import Served


async def test_health_ready_and_status(served: Served) -> None:
    assert (await served.client.get("/health")).json() == {"status": "ok", "reason": None}
    ready = await served.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ok"
    status = (await served.client.get("/v1/status")).json()
    assert set(status["broker"]) >= {"published", "acked", "failed", "scheduled", "dead"}
    assert {"actors", "topics", "writer"} <= set(status)
    served.query("UPDATE alembic_version SET version_num='0001_initial'")
    stale = await served.client.get("/ready")
    assert stale.status_code == 503
    assert "run the migrations" in stale.json()["reason"]


async def test_a_retry_record_is_shown_reset_and_asked_for_its_early_retry(served: Served) -> None:
    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        raise ValueError("down")

    await served.rt.subscribe("free", handler)
    r = await served.client.post(
        "/v1/topics/free/messages", json={"payload": 1, "target": ["acct", "a-1"]}, headers=AUTH
    )
    assert r.status_code == 201
    with anyio.fail_after(10):
        while (await served.client.get("/v1/retry-records/acct/a-1")).status_code != 200:  # noqa: ASYNC110 - polled
            await anyio.sleep(0.01)
    record = (await served.client.get("/v1/retry-records/acct/a-1")).json()
    assert record["attempt_count"] == 1
    early = (await served.client.post("/v1/retry-records/acct/a-1/early", headers=AUTH)).json()
    assert early["granted"] is False
    assert early["message_id"] == r.json()["id"]
    reset = await served.client.delete("/v1/retry-records/acct/a-1", headers=AUTH)
    assert reset.status_code == 204
    fresh = (await served.client.get("/v1/retry-records/acct/a-1")).json()
    assert (fresh["attempt_count"], fresh["early_retry_used"]) == (0, False)
    unknown = await served.client.get("/v1/retry-records/acct/nobody")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "retry_record_not_found"


async def test_chunks_are_added_searched_and_deleted(served: Served) -> None:
    body = {
        "chunks": [
            {"text": "Payment gateway timeout: retry after the failover", "source": "runbook"},
            {
                "text": "Disk full on the worker: rotate logs",
                "source": "runbook",
                "metadata": {"team": "ops"},
            },
        ]
    }
    r = await served.client.post("/v1/chunks", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    ids = r.json()["ids"]
    assert len(ids) == 2
    found = (
        await served.client.get("/v1/chunks/search", params={"q": "gateway timeout", "k": 1})
    ).json()["items"]
    assert [f["chunk_id"] for f in found] == [ids[0]]
    assert (await served.client.delete(f"/v1/chunks/{ids[0]}", headers=AUTH)).status_code == 204
    assert (await served.client.delete(f"/v1/chunks/{ids[0]}", headers=AUTH)).status_code == 404
    assert served.query("SELECT id FROM reference_chunks") == [(ids[1],)]
    assert (await served.client.get("/v1/patterns")).json() == {"items": []}


async def test_bad_chunks_and_searches_change_nothing(served: Served) -> None:
    before = served.fingerprint()
    for body, status, error in (
        ({"chunks": []}, 400, "empty_batch"),
        ({"chunks": [{"text": "x", "source": "failure"}]}, 400, "invalid_argument"),
        ({"chunks": [{"text": "", "source": "runbook"}]}, 400, "invalid_argument"),
        ({"chunks": [{"text": "x"}]}, 400, "bad_request"),
        ({"chunks": [{"text": "x", "source": "r"}] * 11}, 413, "batch_too_large"),
    ):
        r = await served.client.post("/v1/chunks", json=body, headers=AUTH)
        assert r.status_code == status, (body, r.text)
        assert r.json()["error"] == error, (body, r.text)
    searches: list[dict[str, str | int]] = [
        {},
        {"q": ""},
        {"q": "x", "k": 0},
        {"q": "x", "min_similarity": 2},
    ]
    for params in searches:
        r = await served.client.get("/v1/chunks/search", params=params)
        assert r.status_code == 400, (params, r.text)
    assert (await served.client.delete("/v1/chunks/-1", headers=AUTH)).status_code in (400, 404)
    assert served.fingerprint() == before
