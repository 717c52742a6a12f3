"""Fixtures for the storage tests: real SQLite files in tmp_path, migrated to head."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actorgrid.storage import create_engine, migrate_async

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Return the path of a database file that does not exist yet."""
    return tmp_path / "actorgrid.db"


@pytest.fixture
def db_url(db_path: Path) -> str:
    """Return the aiosqlite URL of ``db_path``."""
    return f"sqlite+aiosqlite:///{db_path}"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """Yield an engine on a database migrated to head; disposed of afterwards."""
    await migrate_async(db_url)
    engine = create_engine(db_url)
    yield engine
    await engine.dispose()
