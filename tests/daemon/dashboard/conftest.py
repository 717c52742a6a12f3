"""Fixtures for the dashboard: a runtime on a real SQLite file, its API app (with the
dashboard) on a real uvicorn server, logins on the same fake clock, and browser-like
clients (httpx keeps their cookies)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from actorgrid import Runtime
from actorgrid.daemon.api import ApiSettings, create_api
from actorgrid.daemon.dashboard import DashboardAuth, DashboardSettings
from actorgrid.kernel import FakeClock
from actorgrid.storage import migrate

from ..api.conftest import TOKEN, fingerprint, runtime_config, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from litestar import Litestar

__all__ = ("TOKEN", "Dash", "csrf_of")

_CSRF = re.compile(r'name="_csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Dash:
    """A runtime with its API and dashboard on a real server."""

    rt: Runtime
    app: Litestar
    auth: DashboardAuth
    clock: FakeClock
    path: Path
    base: str
    clients: list[httpx.AsyncClient]

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.path)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import sqlite3

        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql, args).fetchall()

    def client(self) -> httpx.AsyncClient:
        """A new browser: no cookies yet."""
        client = httpx.AsyncClient(base_url=self.base, timeout=30)
        self.clients.append(client)
        return client

    async def browser(self) -> tuple[httpx.AsyncClient, str]:
        """A logged-in browser (through a one-time login URL) and its CSRF token."""
        client = self.client()
        r = await client.get(self.auth.mint().url(self.base))
        assert r.status_code == 303, r.text
        return client, await self.csrf(client)

    async def csrf(self, client: httpx.AsyncClient, path: str = "/ui/records") -> str:
        r = await client.get(path)
        assert r.status_code == 200, r.text
        return csrf_of(r.text)


@pytest.fixture(scope="session", name="dash_template")
def _dash_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dashboard-template") / "migrated.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(name="dash")
async def _dash(tmp_path: Path, dash_template: Path) -> AsyncIterator[Dash]:
    path = tmp_path / "dash.db"
    shutil.copy(dash_template, path)
    clock = FakeClock()
    auth = DashboardAuth(TOKEN, DashboardSettings(session_idle_seconds=600), clock)
    async with Runtime(runtime_config(path), clock=clock) as rt:
        rt.declare_topic("free")
        app = create_api(rt, ApiSettings(token=TOKEN), dashboard=auth)
        async with serve(app) as api:
            dash = Dash(rt, app, auth, clock, path, str(api.base_url).rstrip("/"), [])
            try:
                yield dash
            finally:
                for c in dash.clients:
                    await c.aclose()
