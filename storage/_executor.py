"""Run one writer batch as one transaction on the writer's own connection.

Consecutive operations that share a plan become one ``executemany``. Fast plans go to the
driver with precompiled SQL and positional rows (straight to aiosqlite's ``executemany`` when
that is the driver, else ``exec_driver_sql``); slow plans go through SQLAlchemy's
``execute``. On SQLite the transaction starts with ``BEGIN IMMEDIATE``, so the write lock is
taken up front and waits out ``busy_timeout`` instead of failing halfway through a batch.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Any

import anyio

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from ._plan import Plan

__all__ = ("BatchExecutor",)


def group_rows(item_lists: Iterable[list[tuple[Plan, Any]]]) -> list[tuple[Plan, list[Any]]]:
    """Group consecutive (plan, row) items that share a plan, keeping their order."""
    groups: list[tuple[Plan, list[Any]]] = []
    current: Plan | None = None
    rows: list[Any] = []
    for items in item_lists:
        for plan, row in items:
            if plan is current:
                rows.append(row)
            else:
                current = plan
                rows = [row]
                groups.append((plan, rows))
    return groups


class BatchExecutor:
    """Executes batches on one long-lived connection, replaced after any failure."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._use_driver = engine.dialect.driver == "aiosqlite"
        self._connection: AsyncConnection | None = None
        self._driver: Any = None

    async def run(self, item_lists: Iterable[list[tuple[Plan, Any]]]) -> None:
        """Execute every item in one transaction and commit it; roll back on any error."""
        groups = group_rows(item_lists)
        conn = await self._connect()
        try:
            if self._sqlite:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await conn.begin()
            for plan, rows in groups:
                if not plan.fast:
                    await conn.execute(plan.statement, rows if len(rows) > 1 else rows[0])
                elif self._driver is not None:
                    async with self._driver.executemany(plan.sql, rows):
                        pass
                else:
                    await conn.exec_driver_sql(plan.sql, [tuple(row) for row in rows])
            await conn.commit()
        except BaseException:
            await self._discard()
            raise

    async def close(self) -> None:
        """Return the connection to the pool (rolling back anything open)."""
        conn, self._connection, self._driver = self._connection, None, None
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await conn.close()

    async def _connect(self) -> AsyncConnection:
        if self._connection is None:
            conn = await self._engine.connect()
            if self._use_driver:
                raw = await conn.get_raw_connection()
                self._driver = raw.driver_connection
            self._connection = conn
        return self._connection

    async def _discard(self) -> None:
        # After a failure the connection's state is unknown (a disk I/O error can leave it
        # unusable): roll back, then drop it so the next attempt starts on a fresh one.
        conn, self._connection, self._driver = self._connection, None, None
        if conn is None:
            return
        # Errors while cleaning up are secondary to the failure being raised.
        with anyio.CancelScope(shield=True):
            try:
                await conn.rollback()
            except Exception:
                with suppress(Exception):
                    await conn.invalidate()
            with suppress(Exception):
                await conn.close()
