"""Shared fixtures: every async test runs on asyncio (aiosqlite and SQLAlchemy async need it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actorgrid.kernel import reset_logging

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Run every async test on the asyncio backend."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    """Leave structlog and stdlib logging as they were after every test."""
    yield
    reset_logging()
