"""Where retry records live: in memory, or in the ``retry_records`` table.

The SQL helpers (:func:`record_to_row`, :func:`row_to_record`, :func:`retry_record_upsert`,
:func:`retry_record_delete`) are shared by :class:`SqlRetryStore`, the retry gate's
write-behind and the broker. The upsert is built once per dialect, so ops that share it
batch into one ``executemany``; it only applies a row whose ``version`` is newer than the
stored one, so a late, stale write can never overwrite newer state.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Final, Protocol, final, runtime_checkable

import msgspec
from sqlalchemy import Table, bindparam, delete, select, update

from actorgrid.kernel import SystemClock
from actorgrid.storage import Base

from .._exceptions import UnsupportedDialect
from ._policy import RetryPolicyConfig, RetryRecord, validate_target

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from sqlalchemy.engine import RowMapping
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.sql.expression import Executable

    from actorgrid.kernel import Clock

__all__ = (
    "RECORD_COLUMNS",
    "InMemoryRetryStore",
    "RetryStore",
    "SqlRetryStore",
    "record_to_row",
    "retry_record_delete",
    "retry_record_reset",
    "retry_record_upsert",
    "row_to_record",
)

SUPPORTED_DIALECTS: Final = ("sqlite", "postgresql")
_KEY: Final = ("target_type", "target_id")
_STATE: Final = (
    "attempt_count",
    "early_retry_used",
    "last_attempt_at",
    "last_success_at",
    "next_allowed_at",
    "last_explicit_early_granted_at",
    "policy_snapshot",
    "version",
    "updated_at",
)
RECORD_COLUMNS: Final = (*_KEY, *_STATE)
"""The ``retry_records`` columns a row from :func:`record_to_row` fills, in table order."""


def _table() -> Table:
    return Base.metadata.tables["retry_records"]


@runtime_checkable
class RetryStore(Protocol):
    """Async storage of retry records, keyed by ``(target_type, target_id)``."""

    async def get(self, target_type: str, target_id: str) -> RetryRecord | None:
        """Return the target's record, or None."""
        ...

    async def put(self, record: RetryRecord) -> None:
        """Store ``record`` (insert or replace)."""
        ...

    async def delete(self, target_type: str, target_id: str) -> None:
        """Forget the target's record (no error when there is none)."""
        ...


@final
class InMemoryRetryStore:
    """Records in a dict of dicts (``target_type`` -> ``target_id`` -> record).

    Stores the record objects themselves: a record changed in place is changed in the store.
    The ``*_nowait`` twins do the same work without a coroutine.
    """

    __slots__ = ("_by_type",)

    def __init__(self) -> None:
        # The manager holds a reference to this dict: it is never rebound.
        self._by_type: dict[str, dict[str, RetryRecord]] = {}

    def __len__(self) -> int:
        return sum(len(inner) for inner in self._by_type.values())

    def records(self) -> Iterator[RetryRecord]:
        """Iterate over every stored record."""
        for inner in self._by_type.values():
            yield from inner.values()

    def get_nowait(self, target_type: str, target_id: str) -> RetryRecord | None:
        """Return the target's record, or None.

        Raises:
            InvalidTarget: for a bad key.
        """
        validate_target(target_type, target_id)
        inner = self._by_type.get(target_type)
        return inner.get(target_id) if inner is not None else None

    def put_nowait(self, record: RetryRecord) -> None:
        """Store ``record`` under its key.

        Raises:
            InvalidTarget: for a bad key (nothing is stored).
        """
        validate_target(record.target_type, record.target_id)
        inner = self._by_type.get(record.target_type)
        if inner is None:
            inner = self._by_type[record.target_type] = {}
        inner[record.target_id] = record

    def delete_nowait(self, target_type: str, target_id: str) -> None:
        """Forget the target's record.

        Raises:
            InvalidTarget: for a bad key (nothing is changed).
        """
        validate_target(target_type, target_id)
        inner = self._by_type.get(target_type)
        if inner is not None:
            inner.pop(target_id, None)
            if not inner:
                del self._by_type[target_type]

    async def get(self, target_type: str, target_id: str) -> RetryRecord | None:
        """Return the target's record, or None.

        Raises:
            InvalidTarget: for a bad key.
        """
        return self.get_nowait(target_type, target_id)

    async def put(self, record: RetryRecord) -> None:
        """Store ``record`` under its key.

        Raises:
            InvalidTarget: for a bad key (nothing is stored).
        """
        self.put_nowait(record)

    async def delete(self, target_type: str, target_id: str) -> None:
        """Forget the target's record.

        Raises:
            InvalidTarget: for a bad key (nothing is changed).
        """
        self.delete_nowait(target_type, target_id)


class _SnapshotCodec:
    """Policy snapshot <-> JSON builtins, sharing one config object per distinct policy."""

    __slots__ = ("_interned", "_last_builtins", "_last_config")

    def __init__(self) -> None:
        self._last_config: RetryPolicyConfig | None = None
        self._last_builtins: dict[str, Any] | None = None
        self._interned: dict[RetryPolicyConfig, RetryPolicyConfig] = {}

    def encode(self, config: RetryPolicyConfig) -> dict[str, Any]:
        if config is not self._last_config or self._last_builtins is None:
            builtins: dict[str, Any] = msgspec.to_builtins(config)
            self._last_config, self._last_builtins = config, builtins
        return self._last_builtins

    def decode(self, data: Mapping[str, Any]) -> RetryPolicyConfig:
        config = RetryPolicyConfig.from_builtins(data)
        interned = self._interned.get(config)
        if interned is None:
            if len(self._interned) >= 256:
                self._interned.clear()
            interned = self._interned[config] = config
        return interned


_snapshots: Final = _SnapshotCodec()


def record_to_row(record: RetryRecord, now: float) -> dict[str, Any]:
    """Return the ``retry_records`` row parameters of ``record``.

    The policy snapshot becomes a JSON-ready dict; rows of records that share a snapshot
    object share that dict (treat it as read-only).

    Args:
        record: the record.
        now: the ``updated_at`` time, epoch seconds.

    Returns:
        Column name to value, for :func:`retry_record_upsert`.
    """
    policy = record.policy
    return {
        "target_type": record.target_type,
        "target_id": record.target_id,
        "attempt_count": record.attempt_count,
        "early_retry_used": record.early_retry_used,
        "last_attempt_at": record.last_attempt_at,
        "last_success_at": record.last_success_at,
        "next_allowed_at": record.next_allowed_at,
        "last_explicit_early_granted_at": record.last_explicit_early_granted_at,
        "policy_snapshot": None if policy is None else _snapshots.encode(policy),
        "version": record.version,
        "updated_at": now,
    }


def row_to_record(row: Mapping[str, Any] | RowMapping) -> RetryRecord:
    """Rebuild a record from a ``retry_records`` row (``Result.mappings()`` or a dict).

    Equal policy snapshots come back as one shared config object.

    Args:
        row: column name to value.

    Returns:
        The record.

    Raises:
        InvalidRetryPolicy: when the stored snapshot is not a valid policy.
    """
    snapshot = row["policy_snapshot"]
    return RetryRecord(
        row["target_type"],
        row["target_id"],
        row["attempt_count"] or 0,
        bool(row["early_retry_used"]),
        row["last_attempt_at"],
        row["last_success_at"],
        row["next_allowed_at"],
        row["last_explicit_early_granted_at"],
        None if snapshot is None else _snapshots.decode(snapshot),
        row["version"] or 0,
    )


@functools.cache
def retry_record_upsert(dialect_name: str) -> Executable:
    """Return the version-guarded upsert of one ``retry_records`` row for a dialect.

    ``INSERT ... ON CONFLICT (target_type, target_id) DO UPDATE ... WHERE excluded.version >
    retry_records.version``; execute it with :func:`record_to_row` parameters (one dict, or a
    list of them for ``executemany``). The same object is returned on every call.

    Args:
        dialect_name: ``engine.dialect.name``: ``"sqlite"`` or ``"postgresql"``.

    Returns:
        The statement.

    Raises:
        UnsupportedDialect: for any other dialect.
    """
    insert: Any
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise UnsupportedDialect(dialect_name, SUPPORTED_DIALECTS)
    stmt = insert(_table())
    excluded = stmt.excluded
    upsert: Executable = stmt.on_conflict_do_update(
        index_elements=list(_KEY),
        set_={name: excluded[name] for name in _STATE},
        where=excluded.version > _table().c.version,
    )
    return upsert


@functools.cache
def retry_record_delete() -> Executable:
    """Return the statement deleting one record; parameters ``target_type`` and ``target_id``.

    The same object is returned on every call (dialect-neutral).
    """
    table = _table()
    return delete(table).where(
        table.c.target_type == bindparam("target_type"),
        table.c.target_id == bindparam("target_id"),
    )


@functools.cache
def retry_record_reset() -> Executable:
    """Return the statement that ends a record's cycle in place (a dead letter's replay).

    Parameters ``b_target_type``, ``b_target_id`` and ``b_updated_at``. It keeps the row and
    raises its ``version``, where a delete would let a stale queued upsert of the old,
    exhausted record insert it again: the version guard only protects a row that exists.
    The same object is returned on every call (dialect-neutral).
    """
    table = _table()
    return (
        update(table)
        .where(
            table.c.target_type == bindparam("b_target_type"),
            table.c.target_id == bindparam("b_target_id"),
        )
        .values(
            attempt_count=0,
            early_retry_used=False,
            last_attempt_at=None,
            last_success_at=None,
            next_allowed_at=None,
            last_explicit_early_granted_at=None,
            policy_snapshot=None,
            version=table.c.version + 1,
            updated_at=bindparam("b_updated_at"),
        )
    )


@functools.cache
def _retry_record_select() -> Executable:
    table = _table()
    return select(*(table.c[name] for name in (*_KEY, *_STATE))).where(
        table.c.target_type == bindparam("target_type"),
        table.c.target_id == bindparam("target_id"),
    )


@final
class SqlRetryStore:
    """Records in the ``retry_records`` table, one select or upsert per call.

    Correct but slow (a database round trip per call); the retry gate keeps records in
    memory and writes behind instead.

    Args:
        engine: an async engine on a database that has the ``retry_records`` table.
        clock: source of ``updated_at`` (default: :class:`SystemClock`).

    Raises:
        UnsupportedDialect: when the engine's dialect has no upsert here.
    """

    __slots__ = ("_clock", "_delete", "_engine", "_select", "_upsert")

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self._engine = engine
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._upsert = retry_record_upsert(engine.dialect.name)
        self._delete = retry_record_delete()
        self._select = _retry_record_select()

    async def get(self, target_type: str, target_id: str) -> RetryRecord | None:
        """Return the target's record, or None.

        Raises:
            InvalidTarget: for a bad key (nothing is read).
        """
        validate_target(target_type, target_id)
        params = {"target_type": target_type, "target_id": target_id}
        async with self._engine.connect() as conn:
            row = (await conn.execute(self._select, params)).mappings().first()
        return None if row is None else row_to_record(row)

    async def put(self, record: RetryRecord) -> None:
        """Upsert ``record``; a stored row with the same or a newer version is kept.

        Raises:
            InvalidTarget: for a bad key (nothing is written).
        """
        validate_target(record.target_type, record.target_id)
        async with self._engine.begin() as conn:
            await conn.execute(self._upsert, record_to_row(record, self._clock.now()))

    async def delete(self, target_type: str, target_id: str) -> None:
        """Delete the target's row (no error when there is none).

        Raises:
            InvalidTarget: for a bad key (nothing is changed).
        """
        validate_target(target_type, target_id)
        params = {"target_type": target_type, "target_id": target_id}
        async with self._engine.begin() as conn:
            await conn.execute(self._delete, params)
