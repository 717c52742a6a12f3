"""Dead letters over HTTP: list with filters and search, show, replay one, bulk replay as a
job (progress, rate cap, cancellation), purge; bad filters and unknown ids change nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from .conftest import AUTH

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from .conftest import Served


class Gateway(Exception):
    pass


async def _dead(served: Served, payloads: list[str]) -> list[str]:
    """Dead-letter one message per payload (the handler fails for good on ``x`` payloads,
    with a ``Gateway`` error on ``g`` ones); return the dead letter ids, oldest first."""

    seen: set[str] = set()

    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        if payload in seen:
            return  # a replay succeeds
        seen.add(payload)
        if str(payload).startswith("g"):
            raise Gateway(f"gateway timeout for {payload}")
        raise KeyError(f"card declined {payload}")

    await served.rt.subscribe("free", handler, non_retryable=(Gateway, KeyError))
    for p in payloads:
        r = await served.client.post(
            "/v1/topics/free/messages", json={"payload": p, "target": ["acct", p]}, headers=AUTH
        )
        assert r.status_code == 201
    with anyio.fail_after(10):
        while served.query("SELECT count(*) FROM dead_letters") != [(len(payloads),)]:
            await served.settle()
            await anyio.sleep(0.01)
    return [row[0] for row in served.query("SELECT id FROM dead_letters ORDER BY created_at, id")]


async def test_list_filter_search_and_show(served: Served) -> None:
    ids = await _dead(served, ["g1", "x2", "g3"])
    page = (await served.client.get("/v1/dead-letters")).json()
    assert page["total"] == 3
    assert {i["id"] for i in page["items"]} == set(ids)
    gateway = (await served.client.get("/v1/dead-letters", params={"error_type": "Gateway"})).json()
    assert gateway["total"] == 2
    found = (await served.client.get("/v1/dead-letters", params={"q": "DECLINED"})).json()
    assert [i["error_type"] for i in found["items"]] == ["KeyError"]
    target = (await served.client.get("/v1/dead-letters", params={"target_id": "g3"})).json()
    assert [i["id"] for i in target["items"]] == [ids[2]]
    reason = (await served.client.get("/v1/dead-letters", params={"reason": "exhausted"})).json()
    assert reason["total"] == 0
    paged = (await served.client.get("/v1/dead-letters", params={"limit": 2})).json()
    rest = (
        await served.client.get("/v1/dead-letters", params={"limit": 2, "cursor": paged["next"]})
    ).json()
    assert {i["id"] for i in paged["items"] + rest["items"]} == set(ids)
    assert rest["next"] is None
    shown = (await served.client.get(f"/v1/dead-letters/{ids[0]}")).json()
    assert shown["payload"] == "g1"
    assert shown["entry"]["reason"] == "non_retryable"
    assert "Gateway: gateway timeout for g1" in shown["entry"]["traceback"]
    assert shown["entry"]["envelope"]["target_id"] == "g1"


async def test_replay_one_publishes_once(served: Served) -> None:
    ids = await _dead(served, ["g1"])
    r = await served.client.post(f"/v1/dead-letters/{ids[0]}/replay", headers=AUTH)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["already"] is False
    again = (await served.client.post(f"/v1/dead-letters/{ids[0]}/replay", headers=AUTH)).json()
    assert again == {**first, "already": True}
    assert served.query("SELECT count(*) FROM messages WHERE id=?", first["message_id"]) == [(1,)]
    missing = await served.client.post("/v1/dead-letters/nope/replay", headers=AUTH)
    assert missing.status_code == 404
    assert missing.json()["error"] == "dead_letter_not_found"


async def _job_done(served: Served, job_id: str) -> dict[str, Any]:
    with anyio.fail_after(20):
        while True:
            job: dict[str, Any] = (await served.client.get(f"/v1/jobs/{job_id}")).json()
            if job["finished_at"] is not None:
                return job
            await anyio.sleep(0.02)


async def test_a_bulk_replay_runs_as_a_job_with_progress(served: Served) -> None:
    ids = await _dead(served, ["g1", "x2", "g3", "g4"])
    r = await served.client.post(
        "/v1/dead-letters/replay", json={"error_type": "Gateway", "rate": 1000}, headers=AUTH
    )
    assert r.status_code == 202, r.text
    job = await _job_done(served, r.json()["id"])
    assert job["state"] == "done"
    assert (job["total"], job["replayed"], job["already"]) == (3, 3, 0)
    assert job["selection"] == {"error_type": "Gateway"}
    replayed = served.query("SELECT id FROM dead_letters WHERE replayed_at IS NOT NULL")
    assert {row[0] for row in replayed} == {ids[0], ids[2], ids[3]}
    everything = await served.client.post(
        "/v1/dead-letters/replay", json={"everything": True}, headers=AUTH
    )
    done = await _job_done(served, everything.json()["id"])
    assert (done["total"], done["replayed"], done["already"]) == (4, 1, 3)
    listed = (await served.client.get("/v1/jobs")).json()["items"]
    assert [j["id"] for j in listed] == [job["id"], done["id"]]


async def test_a_rate_capped_job_can_be_cancelled_between_batches(served: Served) -> None:
    await _dead(served, ["g1", "g2", "g3", "g4"])
    r = await served.client.post(
        "/v1/dead-letters/replay", json={"everything": True, "rate": 1}, headers=AUTH
    )
    job_id = r.json()["id"]
    with anyio.fail_after(10):
        while (await served.client.get(f"/v1/jobs/{job_id}")).json()["processed"] < 1:  # noqa: ASYNC110 - polled
            await anyio.sleep(0.02)
    cancelled = await served.client.delete(f"/v1/jobs/{job_id}", headers=AUTH)
    assert cancelled.status_code == 200
    job = await _job_done(served, job_id)
    assert job["state"] == "cancelled"
    assert job["total"] == 4
    assert job["replayed"] < 4  # at one per second, the cancel came before the last batch
    replayed = served.query("SELECT count(*) FROM dead_letters WHERE replayed_at IS NOT NULL")
    assert replayed == [(job["replayed"],)]
    assert (await served.client.get("/v1/jobs/job-99")).status_code == 404


async def test_purge_by_filter(served: Served) -> None:
    ids = await _dead(served, ["g1", "x2"])
    r = await served.client.post(
        "/v1/dead-letters/purge", json={"error_type": "KeyError"}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"deleted": 1}
    assert served.query("SELECT id FROM dead_letters") == [(ids[0],)]
    assert served.query("SELECT count(*) FROM messages WHERE state='dead'") == [(1,)]


async def test_purge_by_ids(served: Served) -> None:
    """A page of ids (how the CLI purges a large selection), unknown ones skipped."""
    ids = await _dead(served, ["g1", "x2"])
    r = await served.client.post(
        "/v1/dead-letters/purge", json={"ids": [ids[1], "no-such-id"]}, headers=AUTH
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"deleted": 1}
    assert served.query("SELECT id FROM dead_letters") == [(ids[0],)]
    before = served.fingerprint()
    for body in ({"ids": [ids[0]], "topic": "jobs"}, {"ids": [ids[0]], "everything": True}):
        refused = await served.client.post("/v1/dead-letters/purge", json=body, headers=AUTH)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "bad_selector"
    assert served.fingerprint() == before


async def test_bad_selections_and_filters_change_nothing(served: Served) -> None:
    await _dead(served, ["g1", "x2"])
    before = served.fingerprint()
    for path, body, error in (
        ("/v1/dead-letters/replay", {}, "bad_selector"),
        ("/v1/dead-letters/replay", {"everything": True, "topic": "free"}, "bad_selector"),
        ("/v1/dead-letters/replay", {"everything": True, "rate": 0}, "bad_request"),
        ("/v1/dead-letters/replay", {"topic": ""}, "bad_request"),
        ("/v1/dead-letters/replay", {"since": 10, "until": 5}, "invalid_argument"),
        ("/v1/dead-letters/purge", {}, "bad_selector"),
        ("/v1/dead-letters/purge", {"older_than": -1}, "bad_request"),
        ("/v1/dead-letters/purge", {"toppic": "free"}, "bad_request"),
        ("/v1/dead-letters/purge", [1, 2], "bad_request"),
    ):
        r = await served.client.post(path, json=body, headers=AUTH)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert r.json()["error"] == error, (body, r.text)
    for params in ({"limit": 0}, {"cursor": "zz"}, {"since": "yesterday"}, {"q": ""}):
        r = await served.client.get("/v1/dead-letters", params=params)
        assert r.status_code == 400, (params, r.text)
    assert (await served.client.get("/v1/dead-letters/nope")).status_code == 404
    assert (await served.client.get("/v1/jobs")).json()["items"] == []
    await served.settle()
    assert served.fingerprint() == before
