"""The prune of ``done`` rows: bounded batches, one writer submission at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actorgrid.storage import Op, read_connection

from .._delivery import PRUNE_BATCH, prune_done, prune_done_pending

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.storage import Writer

__all__ = ("prune_done_rows",)


async def prune_done_rows(
    engine: AsyncEngine, writer: Writer, cutoff: float, *, limit: int = PRUNE_BATCH
) -> int:
    """Delete the ``done`` rows done before ``cutoff``, ``limit`` rows per transaction.

    Each batch is one submission of one statement, and the next is submitted only after
    it committed: the single writer commits other submissions in between, and no
    transaction holds the write lock longer than one batch takes. It stops after a batch
    of fewer than ``limit`` rows.

    Returns:
        How many rows were deleted.

    Raises:
        StorageError: a batch could not be submitted or was rejected (the batches before
            it stay committed).
    """
    params = {"b_cutoff": cutoff, "b_limit": limit}
    deleted = 0
    while True:
        async with read_connection(engine) as conn:
            pending = int((await conn.execute(prune_done_pending, params)).scalar_one())
        if pending == 0:
            return deleted
        await writer.write(Op(prune_done, params))
        deleted += pending
        if pending < limit:
            return deleted
