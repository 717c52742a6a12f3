"""``GET /v1/alerts``: the firing alerts, or every one with ``?all=true``, in the contract's
shape; an empty list without a monitor; a bad ``all`` is a 400 in the API's error shape."""

from __future__ import annotations

import contextlib
import shutil
from typing import TYPE_CHECKING

import pytest

from actorgrid import FakeClock, Runtime
from actorgrid.daemon.alerts import ALERT_NAMES, AlertMonitor, AlertSettings
from actorgrid.daemon.api import ApiSettings, create_api

from ..alerts.fakes import FakeSignals
from .conftest import TOKEN, runtime_config, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import httpx

pytestmark = pytest.mark.anyio

FIELDS = {"name", "severity", "state", "summary", "value", "threshold", "since"}


@contextlib.asynccontextmanager
async def served(
    tmp_path: Path, template: Path, monitor: AlertMonitor | None
) -> AsyncIterator[httpx.AsyncClient]:
    path = tmp_path / "api.db"
    shutil.copy(template, path)
    async with Runtime(runtime_config(path), clock=FakeClock()) as rt:
        app = create_api(rt, ApiSettings(token=TOKEN), alerts=monitor)
        async with serve(app) as client:
            yield client


async def test_firing_and_all(tmp_path: Path, template: Path) -> None:
    """Two alerts firing: the default lists those two, ``all=true`` all six; each item has
    exactly the contract's fields and types; the answer follows the monitor."""
    clock = FakeClock()
    source = FakeSignals()
    monitor = AlertMonitor(source, AlertSettings(), clock)
    async with served(tmp_path, template, monitor) as client:
        await monitor.evaluate()
        assert (await client.get("/v1/alerts")).json() == {"items": []}
        source.set(writer_lag=45.0, not_ready="the runtime is stopping")
        clock.advance(60.0)
        await monitor.evaluate()
        clock.advance(60.0)
        await monitor.evaluate()

        answer = await client.get("/v1/alerts")
        assert answer.status_code == 200
        items = answer.json()["items"]
        assert [a["name"] for a in items] == ["writer_lag", "not_ready"]
        lag, down = items
        assert lag == {
            "name": "writer_lag",
            "severity": "warning",
            "state": "firing",
            "summary": "the storage writer is 45.0 s behind (fires above 30 s)",
            "value": 45.0,
            "threshold": 30.0,
            "since": clock.now() - 60.0,
        }
        assert (down["severity"], down["state"], down["value"], down["threshold"]) == (
            "critical",
            "firing",
            60.0,
            60.0,
        )
        assert down["since"] == clock.now()

        every = (await client.get("/v1/alerts", params={"all": "true"})).json()["items"]
        assert [a["name"] for a in every] == list(ALERT_NAMES)
        for item in every:
            assert set(item) == FIELDS
            assert item["severity"] in ("warning", "critical")
            assert item["state"] == (
                "firing" if item["name"] in ("writer_lag", "not_ready") else "ok"
            )
            assert isinstance(item["summary"], str)
            assert all(isinstance(item[k], float) for k in ("value", "threshold", "since"))
        explicit = (await client.get("/v1/alerts", params={"all": "false"})).json()
        assert explicit == answer.json()


async def test_without_a_monitor_the_list_is_empty(tmp_path: Path, template: Path) -> None:
    async with served(tmp_path, template, None) as client:
        assert (await client.get("/v1/alerts")).json() == {"items": []}
        assert (await client.get("/v1/alerts?all=true")).json() == {"items": []}


async def test_a_bad_flag_is_a_400(tmp_path: Path, template: Path) -> None:
    monitor = AlertMonitor(FakeSignals(), AlertSettings(), FakeClock())
    async with served(tmp_path, template, monitor) as client:
        answer = await client.get("/v1/alerts", params={"all": "maybe"})
        assert answer.status_code == 400
        body = answer.json()
        assert body["error"] == "bad_request"
        assert "all" in body["detail"]


async def test_documented_and_open(tmp_path: Path, template: Path) -> None:
    """The route is in the OpenAPI document with its ``all`` flag, and needs no token."""
    monitor = AlertMonitor(FakeSignals(), AlertSettings(), FakeClock())
    async with served(tmp_path, template, monitor) as client:
        schema = (await client.get("/schema/openapi.json")).json()
        route = schema["paths"]["/v1/alerts"]["get"]
        assert [p["name"] for p in route["parameters"]] == ["all"]
        assert (await client.get("/v1/alerts")).status_code == 200  # no Authorization
