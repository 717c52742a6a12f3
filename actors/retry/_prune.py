"""The prune of finished targets' retry records, run by the retry gate that owns them.

A target is finished when its cycle ended (``attempt_count == 0``: a success, or a reset by
a dead-letter replay) or ran out of retries (its message was dead-lettered). Its row goes
once it has not changed for the retention and no ``ready`` or ``scheduled`` message of the
target is left. Records in an active window are never pruned.

Only the gate deletes rows, and only rows it can vouch for: a row whose record it holds
with a change not committed yet (dirty, in flight, held for a caller's transaction) or with
another version is left alone. Each delete is guarded by the version it read and re-checks
the target's messages in its own transaction, so a write that commits first (a failure,
a replay's reset) keeps its row. A write that comes later is the gate's own, from state it
still has, so nothing stale can bring a pruned row back; and once a delete committed, the
gate forgets its copy of the record, so its next request reads the row (or its absence)
instead of trusting memory.

One batch of at most ``limit`` rows is read and submitted at a time, and the next only
after the last committed, on the gate's flush ticks: the gate never waits for the writer
and answers requests between batches.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final, final

import structlog
from sqlalchemy import Table, bindparam, delete, exists, or_, select, tuple_

from actorgrid.kernel import Message
from actorgrid.storage import Base, Op, StorageError, read_connection

from .._exceptions import InvalidRetryPolicy
from ._store import RECORD_COLUMNS, row_to_record

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import RowMapping
    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.storage import Receipt, Writer

    from ._gate_cache import RecordCache
    from ._policy import RetryRecord
    from ._writeback import WriteBehind

__all__ = (
    "PRUNE",
    "PRUNE_BATCH",
    "PruneRecords",
    "RecordPruner",
    "check_retention",
    "prune_candidates",
    "prune_delete",
)

_log = structlog.get_logger("actorgrid.actors.retry_gate")

PRUNE_BATCH: Final = 1000
"""Rows one prune batch reads and deletes at most."""

_records: Table = Base.metadata.tables["retry_records"]
_messages: Table = Base.metadata.tables["messages"]
_r, _m = _records.c, _messages.c

_pending_message = (
    exists()
    .where(_m.target_type == _r.target_type, _m.target_id == _r.target_id)
    .where(or_(_m.state == "ready", _m.state == "scheduled"))
)

prune_candidates: Final = (
    select(_r.id, *(_r[name] for name in RECORD_COLUMNS), _pending_message.label("pending"))
    .where(_r.updated_at < bindparam("b_cutoff"))
    .where(tuple_(_r.updated_at, _r.id) > tuple_(bindparam("b_after_at"), bindparam("b_after_id")))
    .order_by(_r.updated_at, _r.id)
    .limit(bindparam("b_limit"))
)
"""The next ``b_limit`` records unchanged since ``b_cutoff``, after an (updated_at, id)
position, each with whether a ready or scheduled message of its target exists."""

prune_delete: Final = (
    delete(_records)
    .where(_r.id == bindparam("b_id"))
    .where(_r.version == bindparam("b_version"))
    .where(~_pending_message)
)
"""Delete one record if it is still at the version read and its target has no pending
message (both checked in the delete's own transaction)."""


def check_retention(retention: object) -> None:
    """Raise ``ValueError`` unless ``retention`` is ``None`` or a finite number >= 0."""
    if retention is not None and not (
        isinstance(retention, int | float)
        and not isinstance(retention, bool)
        and math.isfinite(retention)
        and retention >= 0
    ):
        raise ValueError(f"RetryGate: retention must be None or seconds >= 0, got {retention!r}")


class PruneRecords(Message, frozen=True):
    """Sent by the gate's prune timer to the gate: start a pass over the old records."""


PRUNE: Final = PruneRecords()


@final
class RecordPruner:
    """One gate's passes over ``retry_records``; called only from the gate's task.

    Args:
        engine: where candidates are read.
        writer: the writer the deletes go through.
        cache: the gate's records in memory.
        write_behind: the gate's write-behind (which records are busy).
        retention: seconds a finished record is kept after its last change.
        finished: whether a record's target is finished (cycle ended or exhausted).
        limit: rows per batch.
    """

    __slots__ = (
        "_after",
        "_batch",
        "_cache",
        "_cutoff",
        "_engine",
        "_finished",
        "_last",
        "_limit",
        "_next",
        "_receipt",
        "_retention",
        "_wb",
        "_writer",
        "pruned",
        "running",
    )

    def __init__(
        self,
        engine: AsyncEngine,
        writer: Writer,
        cache: RecordCache,
        write_behind: WriteBehind,
        retention: float,
        finished: Callable[[RetryRecord], bool],
        limit: int = PRUNE_BATCH,
    ) -> None:
        self._engine = engine
        self._writer = writer
        self._cache = cache
        self._wb = write_behind
        self._retention = retention
        self._finished = finished
        self._limit = limit
        self._cutoff = 0.0
        self._after: tuple[float, int] = (-math.inf, 0)
        self._last = False
        self._receipt: Receipt | None = None
        self._batch: list[tuple[str, str, int]] = []
        self._next: float | None = None
        self.running = False
        """A pass is under way (it ends after a short batch)."""
        self.pruned = 0
        """Records deleted so far by this gate."""

    def begin(self, now: float) -> None:
        """Start a pass over the records unchanged for the retention; while one runs, the
        next pass (as of ``now``) starts when it ends."""
        if self.running:
            self._next = now
            return
        self.running = True
        self._cutoff = now - self._retention
        self._after = (-math.inf, 0)
        self._last = False

    def _end_pass(self) -> bool:
        """End this pass; return whether the next one (asked for meanwhile) began."""
        self.running = False
        if self._next is None:
            return False
        now, self._next = self._next, None
        self.begin(now)
        return True

    async def step(self) -> None:
        """Finish the batch whose delete committed, then read and submit the next one.

        Does nothing while a batch is being committed; the gate calls it again on its next
        flush tick.
        """
        if not self.running:
            return
        receipt = self._receipt
        if receipt is not None:
            if not receipt.done:
                return
            self._receipt = None
            self._forget(rejected=receipt.error is not None)
        if self._last and not self._end_pass():
            return
        await self._submit_next()

    def _forget(self, *, rejected: bool) -> None:
        """Drop the gate's unchanged copies of the records the batch deleted."""
        batch, self._batch = self._batch, []
        if rejected:
            _log.warning("retry_records_prune_rejected", rows=len(batch))
            self._last = True  # the next pass tries again
            return
        for target_type, target_id, version in batch:
            record = self._cache.peek(target_type, target_id)
            if record is not None and record.version == version and not self._wb.busy(record):
                self._cache.discard(target_type, target_id)
        self.pruned += len(batch)

    async def _submit_next(self) -> None:
        params = {
            "b_cutoff": self._cutoff,
            "b_after_at": self._after[0],
            "b_after_id": self._after[1],
            "b_limit": self._limit,
        }
        async with read_connection(self._engine) as conn:
            rows = (await conn.execute(prune_candidates, params)).mappings().all()
        self._last = len(rows) < self._limit
        if rows:
            self._after = (rows[-1]["updated_at"], rows[-1]["id"])
        self._wb.reap()
        ops: list[Op] = []
        for row in rows:
            if row["pending"] or not self._prunable(row):
                continue
            ops.append(Op(prune_delete, {"b_id": row["id"], "b_version": row["version"]}))
            self._batch.append((row["target_type"], row["target_id"], row["version"]))
        if not ops:
            if self._last:
                self._end_pass()
            return
        try:
            self._receipt = self._writer.submit(*ops)
        except StorageError as exc:
            _log.warning("retry_records_prune_failed", rows=len(ops), error=str(exc))
            self._batch = []
            self._end_pass()

    def _prunable(self, row: RowMapping) -> bool:
        cached = self._cache.peek(row["target_type"], row["target_id"])
        if cached is not None:
            return (
                cached.version == row["version"]
                and not self._wb.busy(cached)
                and self._finished(cached)
            )
        try:
            record = row_to_record(row)
        except InvalidRetryPolicy:
            return False  # a snapshot no policy reads: keep it for someone to look at
        return self._finished(record)
