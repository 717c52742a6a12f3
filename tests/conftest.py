"""Shared fixtures: every async test runs on asyncio (aiosqlite and SQLAlchemy async need it)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run every async test on the asyncio backend."""
    return "asyncio"
