"""The ``analytics_buckets`` statements: the additive upsert, range reads, prune batches.

The upsert adds a delta to a bucket (``INSERT ... ON CONFLICT DO UPDATE SET value = value
+ excluded.value``), so a flush never reads and two flushes of the same bucket add up. It is
built once per dialect, so the rows of one flush run as one ``executemany``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Table, bindparam, delete, func, literal, select, tuple_

from actorgrid.storage import AnalyticsBucket, Op, read_connection

from .._exceptions import UnsupportedDialect

if TYPE_CHECKING:
    from collections.abc import Collection

    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.sql.expression import Executable

    from actorgrid.storage import Writer

    from ._buckets import BucketKey, Buckets

__all__ = ("PRUNE_BATCH", "prune_buckets", "read_buckets", "upsert_ops")

_TABLE: Final[Table] = AnalyticsBucket.__table__  # type: ignore[assignment]
_c = _TABLE.c
_KEY: Final = ("bucket_size", "bucket_start", "topic", "metric")

PRUNE_BATCH: Final = 1000
"""Rows one prune statement deletes at most."""


@functools.cache
def bucket_upsert(dialect_name: str) -> Executable:
    """Return the additive upsert of one bucket row for ``sqlite`` or ``postgresql``.

    Raises:
        UnsupportedDialect: for any other dialect.
    """
    insert: Any
    if dialect_name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect_name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        raise UnsupportedDialect(dialect_name, ("sqlite", "postgresql"))
    stmt = insert(_TABLE)
    upsert: Executable = stmt.on_conflict_do_update(
        index_elements=list(_KEY), set_={"value": _c.value + stmt.excluded.value}
    )
    return upsert


def upsert_ops(dialect_name: str, deltas: Buckets) -> list[Op]:
    """One upsert op per bucket of ``deltas`` (a single ``executemany`` at the writer)."""
    stmt = bucket_upsert(dialect_name)
    return [
        Op(stmt, {"bucket_size": s, "bucket_start": t, "topic": topic, "metric": m, "value": n})
        for (s, t, topic, m), n in deltas.items()
    ]


_RANGE: Final = (
    select(_c.bucket_size, _c.bucket_start, _c.topic, _c.metric, _c.value)
    .where(_c.bucket_size == bindparam("b_size"))
    .where(_c.bucket_start >= bindparam("b_first"))
    .where(_c.bucket_start < bindparam("b_end"))
)
"""One size's buckets in a range of starts: a range of the primary key."""


async def read_buckets(
    engine: AsyncEngine, size: int, first: float, end: float, topics: Collection[str] | None
) -> list[tuple[BucketKey, int]]:
    """Read the stored buckets of ``size`` starting in ``[first, end)`` (of ``topics``)."""
    stmt = _RANGE
    if topics is not None:
        stmt = stmt.where(_c.topic.in_(sorted(topics)))
    async with read_connection(engine) as conn:
        result = await conn.execute(stmt, {"b_size": size, "b_first": first, "b_end": end})
        rows = result.all()
    return [((size, start, topic, metric), value) for _, start, topic, metric, value in rows]


_old = (_c.bucket_size == bindparam("b_size")) & (_c.bucket_start < bindparam("b_cutoff"))
_PRUNE: Final = delete(_TABLE).where(
    tuple_(*(_c[k] for k in _KEY)).in_(
        select(*(_c[k] for k in _KEY))
        .where(_old)
        .order_by(_c.bucket_start)
        .limit(bindparam("b_limit"))
    )
)
_PENDING: Final = select(func.count()).select_from(
    select(literal(1)).where(_old).limit(bindparam("b_limit")).subquery()
)


async def prune_buckets(
    engine: AsyncEngine, writer: Writer, size: int, cutoff: float, *, limit: int = PRUNE_BATCH
) -> int:
    """Delete the buckets of ``size`` that start before ``cutoff``, ``limit`` rows per
    transaction, each batch submitted after the one before committed (like the broker's
    prune of done rows: other writers' submissions commit in between).

    Returns:
        How many rows were deleted.
    """
    params = {"b_size": size, "b_cutoff": cutoff, "b_limit": limit}
    deleted = 0
    while True:
        async with read_connection(engine) as conn:
            pending = int((await conn.execute(_PENDING, params)).scalar_one())
        if pending == 0:
            return deleted
        await writer.write(Op(_PRUNE, params))
        deleted += pending
        if pending < limit:
            return deleted
