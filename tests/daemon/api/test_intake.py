"""Intake: publish one and a batch; every bad request is a 4xx that says what is wrong and
changes nothing; a publish while the runtime stops is a 503."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

import pytest

from actorgrid import Runtime
from actorgrid.daemon.api import ApiSettings, create_api

from .conftest import AUTH, TOKEN, fingerprint, runtime_config, serve

if TYPE_CHECKING:
    from pathlib import Path

    from .conftest import Served


async def test_publish_one_stores_the_message(served: Served) -> None:
    r = await served.client.post(
        "/v1/topics/orders/messages",
        json={"payload": {"order_id": "o-1", "amount": 3}, "target": ["order", "o-1"]},
        headers=AUTH,
    )
    assert r.status_code == 201, r.text
    message_id = r.json()["id"]
    rows = served.query(
        "SELECT topic, target_type, target_id, state FROM messages WHERE id=?", message_id
    )
    assert rows == [("orders", "order", "o-1", "ready")]


async def test_publish_batch_stores_every_message_with_its_target_and_headers(
    served: Served,
) -> None:
    body = {
        "messages": [
            {"payload": 1},
            {"payload": ["a", 2], "target": ["t", "x"], "headers": {"k": "v"}},
        ]
    }
    r = await served.client.post("/v1/topics/free/messages/batch", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    ids = r.json()["ids"]
    assert len(ids) == 2
    rows = served.query(
        "SELECT id, target_type, target_id, headers FROM messages ORDER BY created_at, id"
    )
    by_id = {row[0]: row[1:] for row in rows}
    assert by_id[ids[0]][:2] == ("free", ids[0])
    assert by_id[ids[1]][:2] == ("t", "x")
    assert json.loads(by_id[ids[1]][2]) == {"k": "v"}


BAD: list[tuple[str, str, dict[str, Any], int, str]] = [
    (
        "malformed JSON",
        "/v1/topics/free/messages",
        {"content": b'{"payload": '},
        400,
        "bad_request",
    ),
    (
        "wrong field type",
        "/v1/topics/free/messages",
        {"json": {"payload": 1, "headers": {"a": 1}}},
        400,
        "bad_request",
    ),
    (
        "missing payload",
        "/v1/topics/free/messages",
        {"json": {"target": ["a", "b"]}},
        400,
        "bad_request",
    ),
    (
        "unknown field",
        "/v1/topics/free/messages",
        {"json": {"payload": 1, "prio": 9}},
        400,
        "bad_request",
    ),
    (
        "target of three",
        "/v1/topics/free/messages",
        {"json": {"payload": 1, "target": ["a", "b", "c"]}},
        400,
        "bad_request",
    ),
    (
        "empty target id",
        "/v1/topics/free/messages",
        {"json": {"payload": 1, "target": ["a", ""]}},
        422,
        "invalid_target",
    ),
    (
        "unknown topic",
        "/v1/topics/nowhere/messages",
        {"json": {"payload": 1}},
        404,
        "unknown_topic",
    ),
    (
        "payload of the wrong type",
        "/v1/topics/orders/messages",
        {"json": {"payload": {"order_id": "o", "amount": "3"}}},
        422,
        "invalid_payload",
    ),
    (
        "payload missing a field",
        "/v1/topics/orders/messages",
        {"json": {"payload": {"order_id": "o"}}},
        422,
        "invalid_payload",
    ),
    (
        "oversized body",
        "/v1/topics/free/messages",
        {"json": {"payload": "x" * 70_000}},
        413,
        "body_too_large",
    ),
    (
        "oversized batch",
        "/v1/topics/free/messages/batch",
        {"json": {"messages": [{"payload": i} for i in range(11)]}},
        413,
        "batch_too_large",
    ),
    (
        "empty batch",
        "/v1/topics/free/messages/batch",
        {"json": {"messages": []}},
        400,
        "empty_batch",
    ),
    (
        "one bad payload in a batch",
        "/v1/topics/orders/messages/batch",
        {
            "json": {
                "messages": [
                    {"payload": {"order_id": "a", "amount": 1}},
                    {"payload": {"order_id": "b"}},
                ]
            }
        },
        422,
        "invalid_payload",
    ),
    (
        "batch to an unknown topic",
        "/v1/topics/nowhere/messages/batch",
        {"json": {"messages": [{"payload": 1}]}},
        404,
        "unknown_topic",
    ),
]


@pytest.mark.parametrize(
    ("case", "path", "request_kw", "status", "error"), BAD, ids=[b[0] for b in BAD]
)
async def test_a_bad_publish_says_what_is_wrong_and_changes_nothing(
    served: Served, case: str, path: str, request_kw: dict[str, Any], status: int, error: str
) -> None:
    await served.client.post("/v1/topics/free/messages", json={"payload": "before"}, headers=AUTH)
    before = served.fingerprint()
    headers = {**AUTH, **({"Content-Type": "application/json"} if "content" in request_kw else {})}
    r = await served.client.post(path, headers=headers, **request_kw)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == error
    assert isinstance(body["detail"], str)
    assert body["detail"]
    await served.settle()
    assert served.fingerprint() == before


async def test_the_detail_names_the_field_at_fault(served: Served) -> None:
    r = await served.client.post(
        "/v1/topics/orders/messages/batch",
        json={
            "messages": [
                {"payload": {"order_id": "a", "amount": 1}},
                {"payload": {"order_id": "b"}},
            ]
        },
        headers=AUTH,
    )
    assert "messages[1].payload" in r.json()["detail"]
    assert "amount" in r.json()["detail"]


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        ({}, "Authorization: Bearer"),
        ({"Authorization": "Bearer wrong"}, "wrong"),
        ({"Authorization": f"Basic {TOKEN}"}, "Bearer"),
        ({"Authorization": "Bearer"}, "Bearer"),
        ({"Authorization": f"Bearer {TOKEN}x"}, "wrong"),
    ],
)
async def test_a_missing_or_wrong_token_is_refused_before_the_body_is_read(
    served: Served, headers: dict[str, str], detail: str
) -> None:
    before = served.fingerprint()
    r = await served.client.post(
        "/v1/topics/free/messages",
        content=b"{not json",
        headers={**headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "unauthorized"
    assert detail in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert served.fingerprint() == before


async def test_every_state_changing_route_needs_the_token(served: Served) -> None:
    schema = (await served.client.get("/schema/openapi.json")).json()
    changing = [
        (method, path)
        for path, ops in schema["paths"].items()
        for method in ops
        if method in ("post", "put", "patch", "delete")
    ]
    assert len(changing) >= 12
    before = served.fingerprint()
    for method, path in changing:
        url = path.replace("{chunk_id}", "1")
        for name in ("topic", "message_id", "dead_letter_id", "job_id", "target_type", "target_id"):
            url = url.replace("{" + name + "}", "x")
        r = await served.client.request(method.upper(), url, json={})
        assert r.status_code == 401, (method, path, r.text)
    assert served.fingerprint() == before
    assert (await served.client.get("/v1/retries")).status_code == 200  # reads are open


async def test_a_publish_while_the_runtime_stops_is_a_503(tmp_path: Path, template: Path) -> None:
    path = tmp_path / "stop.db"
    shutil.copy(template, path)
    rt = Runtime(runtime_config(path))
    async with rt:
        rt.declare_topic("free")
        app = create_api(rt, ApiSettings(token=TOKEN))
    before = fingerprint(path)
    async with serve(app) as client:
        r = await client.post("/v1/topics/free/messages", json={"payload": 1}, headers=AUTH)
        ready = await client.get("/ready")
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "stopping"
    assert ready.status_code == 503
    assert ready.json()["reason"] == "the runtime is closed"
    assert fingerprint(path) == before
