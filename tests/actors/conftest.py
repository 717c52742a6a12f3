"""Fixtures for the built-in actors: a runtime factory on a real SQLite file with a fake clock."""

from __future__ import annotations

import shutil
import sqlite3
from typing import TYPE_CHECKING, Any

import pytest

from actorgrid import BrokerSettings, GateSettings, Runtime, RuntimeConfig, StorageSettings
from actorgrid.kernel import FakeClock, KernelConfig
from actorgrid.storage import migrate

from .common import T0

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


class RuntimeFactory:
    """Builds runtimes on one database file, sharing one fake clock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite+aiosqlite:///{path}"
        self.clock = FakeClock()

    def config(
        self, *, memory: bool = False, gate: bool | GateSettings = True, **kwargs: Any
    ) -> RuntimeConfig:
        """A test configuration: strict messages, fast drains; overrides by keyword
        (``gate``: on or off, or the gate's settings)."""
        fields: dict[str, Any] = {
            "kernel": KernelConfig(strict_messages=True),
            "storage": StorageSettings(url=None if memory else self.url),
            "gate": gate if isinstance(gate, GateSettings) else GateSettings(enabled=gate),
            "broker": BrokerSettings(drain_timeout=5.0),
        }
        fields.update(kwargs)
        return RuntimeConfig(**fields)

    def __call__(self, **kwargs: Any) -> Runtime:
        return Runtime(self.config(**kwargs), clock=self.clock)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Run a read query on the database file with plain sqlite3."""
        with sqlite3.connect(self.path) as conn:
            return conn.execute(sql, args).fetchall()


@pytest.fixture(scope="session", name="template")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file migrated to head once per session, for tests to copy."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(name="db_path")
def _db_path(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the migrated database in ``tmp_path``."""
    path = tmp_path / "actorgrid.db"
    shutil.copyfile(template, path)
    return path


@pytest.fixture
def runtimes(tmp_path: Path) -> RuntimeFactory:
    """A runtime factory on ``tmp_path/actorgrid.db``."""
    return RuntimeFactory(tmp_path / "actorgrid.db")


Recorder = list[tuple[Any, Any]]
"""(payload, ctx) pairs a handler saw."""


def recording(seen: Recorder, fail: Callable[[Any, Any], bool] | None = None) -> Any:
    """A handler that records every call and raises when ``fail(payload, ctx)`` is true."""

    async def handler(payload: Any, ctx: Any) -> None:
        seen.append((payload, ctx))
        if fail is not None and fail(payload, ctx):
            raise RuntimeError(f"failing {payload!r} on attempt {ctx.attempt}")

    return handler


@pytest.fixture(name="clock")
def _clock() -> FakeClock:
    """A fake clock standing at ``T0``."""
    return FakeClock(T0)
