"""Run one writer batch as one transaction on the writer's own connection.

Consecutive operations that share a plan become one ``executemany`` with the plan's
precompiled SQL and positional rows (on the aiosqlite path, a plain INSERT becomes multi-row
VALUES statements instead). When the driver is aiosqlite and every plan in the batch
is fast, the whole transaction (``BEGIN IMMEDIATE``, the executemany calls, ``COMMIT``) runs as
one call in aiosqlite's worker thread: one thread hand-off per batch instead of one per
statement, which is what keeps throughput up on a busy machine. Otherwise the transaction goes
through SQLAlchemy (``exec_driver_sql`` for fast plans, ``execute`` for slow ones).

On SQLite the transaction starts with ``BEGIN IMMEDIATE``, so the write lock is taken up front
and waits out ``busy_timeout`` instead of failing halfway through a batch. The writer's
connection waits for that lock in slices of at most ``_LOCK_SLICE`` (its own ``busy_timeout``
is set to the slice, and the connection's configured timeout is the budget), so a writer that
gives up at its close deadline (:meth:`BatchExecutor.abandon`) is never stuck for a whole
``busy_timeout`` in the driver's thread: a transaction that has not reached its ``COMMIT``
ends within one slice, rolled back, with :class:`WriterAbandoned`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from contextlib import suppress
from functools import partial
from itertools import chain
from typing import TYPE_CHECKING, Any, Final

import anyio

from ._engine import missing_sqlite_folder

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from ._plan import Plan

__all__ = ("BatchExecutor", "SkippedAfterFailure", "WriterAbandoned")

_LOCK_SLICE: Final = 0.1
"""Longest single wait for SQLite's write lock on the writer's connection, in seconds."""


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


_MAX_VALUES_ROWS: Final = 1024


class WriterAbandoned(Exception):
    """A transaction that gave up before its ``COMMIT``: the writer's close deadline passed."""


def _is_lock_wait(exc: BaseException) -> bool:
    message = str(exc).lower()
    return "database is locked" in message or "database is busy" in message


class _Guard:
    """What a transaction checks so the writer can give up on it (shared with the thread)."""

    __slots__ = ("abandoned", "budget", "committing", "lock")

    def __init__(self) -> None:
        self.abandoned = False
        self.budget = 0.0
        """Seconds a transaction may wait for the write lock (the connection's busy_timeout)."""
        self.committing = 0
        self.lock = threading.Lock()

    def begin_waits(self, started: float | None) -> float:
        """After a lock wait that timed out: raise unless another slice fits the budget."""
        now = time.monotonic()
        if self.abandoned:
            raise WriterAbandoned()
        if started is None:
            return now
        if now - started + _LOCK_SLICE > self.budget:
            raise sqlite3.OperationalError("database is locked")
        return started

    def enter_commit(self) -> None:
        with self.lock:
            if self.abandoned:
                raise WriterAbandoned()
            self.committing += 1

    def leave_commit(self) -> None:
        with self.lock:
            self.committing -= 1


def _commit_in_thread(
    driver: Any, groups: list[tuple[Plan, list[Sequence[Any]]]], guard: _Guard
) -> int:
    """Run the transaction; return its duration in nanoseconds, lock waits included."""
    # Runs in aiosqlite's worker thread, the only thread that may use its sqlite3 connection.
    begun = time.perf_counter_ns()
    connection = driver._conn
    started: float | None = None
    while True:
        try:
            connection.execute("BEGIN IMMEDIATE")
            break
        except sqlite3.OperationalError as exc:
            if not _is_lock_wait(exc):
                raise
            started = guard.begin_waits(started)
    try:
        for plan, rows in groups:
            if plan.values_split is not None and len(rows) > 1:
                _insert_many(connection, plan, rows)
            else:
                connection.executemany(plan.sql, rows)
        guard.enter_commit()
        try:
            connection.commit()
        finally:
            guard.leave_commit()
    except BaseException:
        connection.rollback()
        raise
    return time.perf_counter_ns() - begun


def _insert_many(connection: sqlite3.Connection, plan: Plan, rows: list[Sequence[Any]]) -> None:
    """Insert ``rows`` with multi-row VALUES statements instead of one execution per row.

    One ``sqlite3_step`` then writes many rows, so the worker thread gives up the GIL once per
    statement rather than once per row; on a busy event loop that is most of the difference.
    SQLite inserts the rows of a VALUES list one after another, exactly as executemany would.
    Chunks are powers of two, so each plan needs at most a dozen distinct statements, which
    sqlite3's statement cache keeps prepared.
    """
    width = len(rows[0])
    fit = min(_MAX_VALUES_ROWS, connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width)
    size = 1 << (max(fit, 1).bit_length() - 1)
    start, total = 0, len(rows)
    while start < total:
        while size > total - start:
            size //= 2
        chunk = rows[start : start + size]
        if size == 1:
            connection.execute(plan.sql, chunk[0])
        else:
            connection.execute(plan.many_sql(size), list(chain.from_iterable(chunk)))
        start += size


class SkippedAfterFailure(Exception):
    """A queued transaction that did not run because one queued before it failed."""


class BatchExecutor:
    """Executes batches on one long-lived connection, replaced after any failure.

    Two ways in:

    * :meth:`start` queues a transaction in aiosqlite's worker thread and returns at once,
      so the writer can queue the next one before the first is done (the thread never
      waits for the event loop between transactions). Once a queued transaction fails,
      the ones queued after it are skipped (:class:`SkippedAfterFailure`) until
      :meth:`recover` is called with nothing in flight.
    * :meth:`run` executes one transaction and waits for it, through the driver's thread
      when possible, else through SQLAlchemy.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        # aiosqlite has no public "run this in your thread"; SQLAlchemy's own aiosqlite
        # adapter relies on the same internals (_execute, _tx, _conn). Checked per
        # connection; without them every batch goes through SQLAlchemy.
        self._use_driver = engine.dialect.driver == "aiosqlite"
        self._connection: AsyncConnection | None = None
        self._driver: Any = None
        self._failed = False  # written by the worker thread, reset when nothing is queued
        self._guard = _Guard()
        self._busy_ms: int | None = None  # the writer connection's configured busy_timeout

    def start(self, item_lists: Iterable[list[tuple[Plan, Any]]]) -> asyncio.Future[int] | None:
        """Queue one transaction in the driver's thread; ``None`` if it must go through ``run``.

        That is the case until ``run`` has opened a connection, after a failure, and for
        batches with slow plans or drivers other than aiosqlite.

        Returns:
            A future that completes with the transaction's duration in nanoseconds when it is
            committed, or fails with its error (it is rolled back), or with
            :class:`SkippedAfterFailure`.
        """
        driver = self._driver
        if driver is None or not hasattr(driver, "_tx"):
            return None
        groups = group_rows(item_lists)
        if not all(plan.fast for plan, _ in groups):
            return None
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        driver._tx.put_nowait((future, partial(self._job, driver, groups)))
        return future

    def _job(self, driver: Any, groups: list[tuple[Plan, list[Sequence[Any]]]]) -> int:
        if self._failed:
            raise SkippedAfterFailure()
        try:
            return _commit_in_thread(driver, groups, self._guard)
        except BaseException:
            self._failed = True
            raise

    def abandon(self) -> bool:
        """Give up: every transaction not yet at its ``COMMIT`` fails with
        :class:`WriterAbandoned` (within one lock slice), rolled back; none starts any more.

        Callable from the event loop while transactions run in the driver's thread.

        Returns:
            Whether a ``COMMIT`` was under way (its transaction may still be written).
        """
        guard = self._guard
        with guard.lock:
            guard.abandoned = True
            return guard.committing > 0

    async def recover(self) -> None:
        """Reset after a failed queued transaction; call only with nothing in flight."""
        self._failed = False
        await self._discard()

    async def run(self, item_lists: Iterable[list[tuple[Plan, Any]]]) -> int:
        """Execute every item in one transaction and commit it; roll back on any error.

        Returns:
            The transaction's duration in nanoseconds (connecting not included).
        """
        guard = self._guard
        if guard.abandoned:
            raise WriterAbandoned()
        groups = group_rows(item_lists)
        conn = await self._connect()
        begun = time.perf_counter_ns()
        try:
            if self._driver is not None and all(plan.fast for plan, _ in groups):
                nanoseconds: int = await self._driver._execute(
                    _commit_in_thread, self._driver, groups, guard
                )
                return nanoseconds
            if self._sqlite:
                await self._begin_immediate(conn)
            else:
                await conn.begin()
            for plan, rows in groups:
                if plan.fast:
                    await conn.exec_driver_sql(plan.sql, [tuple(row) for row in rows])
                else:
                    await conn.execute(plan.statement, rows if len(rows) > 1 else rows[0])
            guard.enter_commit()
            try:
                await conn.commit()
            finally:
                guard.leave_commit()
        except BaseException:
            await self._discard()
            raise
        return time.perf_counter_ns() - begun

    async def _begin_immediate(self, conn: AsyncConnection) -> None:
        started: float | None = None
        while True:
            try:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except Exception as exc:
                if not _is_lock_wait(exc):
                    raise
                started = self._guard.begin_waits(started)

    async def close(self) -> None:
        """Return the connection to the pool (rolling back anything open)."""
        conn, self._connection, self._driver = self._connection, None, None
        if conn is not None:
            with anyio.CancelScope(shield=True):
                with suppress(Exception):
                    await self._restore_busy_timeout(conn)
                await conn.close()

    async def _connect(self) -> AsyncConnection:
        if self._connection is None:
            folder = missing_sqlite_folder(self._engine.url)
            if folder is not None:
                raise sqlite3.OperationalError(
                    f"unable to open database file: folder {str(folder)!r} does not exist"
                )
            conn = await self._engine.connect()
            if self._sqlite:
                await self._slice_lock_waits(conn)
            if self._use_driver:
                raw = await conn.get_raw_connection()
                driver = raw.driver_connection
                if all(hasattr(driver, name) for name in ("_execute", "_conn")):
                    self._driver = driver
            self._connection = conn
        return self._connection

    async def _slice_lock_waits(self, conn: AsyncConnection) -> None:
        # The configured busy_timeout becomes the budget of the slices (see the module doc).
        configured = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
        self._busy_ms = int(configured or 0)
        self._guard.budget = self._busy_ms / 1000
        slice_ms = min(self._busy_ms, int(_LOCK_SLICE * 1000))
        await conn.exec_driver_sql(f"PRAGMA busy_timeout={slice_ms:d}")

    async def _restore_busy_timeout(self, conn: AsyncConnection) -> None:
        # The connection goes back to the pool, where readers expect the configured timeout.
        if self._busy_ms is not None:
            await conn.exec_driver_sql(f"PRAGMA busy_timeout={self._busy_ms:d}")

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
                await self._restore_busy_timeout(conn)
            except Exception:
                with suppress(Exception):
                    await conn.invalidate()
            with suppress(Exception):
                await conn.close()
