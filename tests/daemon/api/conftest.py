"""Fixtures for the API: a runtime on a real SQLite file, its API on a real uvicorn server in
the test's event loop, and an httpx client."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import msgspec
import pytest
import uvicorn

from actorgrid import BrokerSettings, Runtime, RuntimeConfig, StorageSettings
from actorgrid.daemon.api import ApiSettings, create_api
from actorgrid.kernel import FakeClock, KernelConfig
from actorgrid.storage import migrate

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path

    from litestar import Litestar

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Order(msgspec.Struct, frozen=True):
    """The payload type of the ``orders`` topic."""

    order_id: str
    amount: int


def fingerprint(path: Path) -> dict[str, Any]:
    """What a rejected request must leave as it was: every table's rows, by state."""
    with sqlite3.connect(path) as conn:
        q = conn.execute
        return {
            "messages": sorted(q("SELECT state, count(*) FROM messages GROUP BY state").fetchall()),
            "scheduled_at": sorted(
                q("SELECT id, available_at FROM messages WHERE state='scheduled'").fetchall()
            ),
            "dead_letters": q("SELECT count(*), count(replayed_at) FROM dead_letters").fetchone(),
            "chunks": q("SELECT count(*) FROM reference_chunks").fetchone(),
            "records": q(
                "SELECT count(*), coalesce(sum(attempt_count), 0) FROM retry_records"
            ).fetchone(),
        }


@dataclass
class Served:
    """A runtime with its API on a real server."""

    rt: Runtime
    app: Litestar
    client: httpx.AsyncClient
    path: Path
    clock: FakeClock
    handlers: dict[str, Any] = field(default_factory=dict)

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(self.path)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql, args).fetchall()

    async def settle(self) -> None:
        """Commit what is pending (the gate's write-behind included)."""
        await self.rt.flush()


@pytest.fixture(scope="session", name="template")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("api-template") / "migrated.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


def runtime_config(path: Path) -> RuntimeConfig:
    """A test configuration on the database at ``path``."""
    return RuntimeConfig(
        kernel=KernelConfig(strict_messages=True),
        storage=StorageSettings(url=f"sqlite+aiosqlite:///{path}"),
        broker=BrokerSettings(drain_timeout=2.0),
    )


@contextlib.asynccontextmanager
async def serve(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """Serve ``app`` with uvicorn on a free loopback port, in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        with anyio.fail_after(10):
            while not server.started:
                if task.done():
                    task.result()
                await anyio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(name="make_served")
def _make_served(
    tmp_path: Path, template: Path
) -> Callable[..., contextlib.AbstractAsyncContextManager[Served]]:
    @contextlib.asynccontextmanager
    async def make(**settings: Any) -> AsyncIterator[Served]:
        path = tmp_path / "api.db"
        shutil.copy(template, path)
        clock = FakeClock()
        async with Runtime(runtime_config(path), clock=clock) as rt:
            rt.declare_topic("orders", payload_type=Order)
            rt.declare_topic("free")
            app = create_api(rt, ApiSettings(token=TOKEN, **settings))
            async with serve(app) as client:
                yield Served(rt=rt, app=app, client=client, path=path, clock=clock)

    return make


@pytest.fixture(name="served")
async def _served(
    make_served: Callable[..., contextlib.AbstractAsyncContextManager[Served]],
) -> AsyncIterator[Served]:
    async with make_served(max_batch=10, max_body_bytes=64_000) as served:
        yield served
