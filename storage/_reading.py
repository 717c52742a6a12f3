"""Reads that cannot leave a connection behind when their task is cancelled.

SQLAlchemy's async connections must be given back to the pool by the task that took them;
a cancellation that lands inside ``execute`` or inside the release makes the pool throw the
connection away through a task of its own, which can outlive the event loop. Reads here are
short (one select, one page), so they run shielded and the cancellation lands right after.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ("read_connection",)


@asynccontextmanager
async def read_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Borrow a pooled connection for a short read, shielded from cancellation.

    Keep the body short: a cancellation of the caller waits until the block is left.
    """
    with anyio.CancelScope(shield=True):
        async with engine.connect() as conn:
            yield conn
