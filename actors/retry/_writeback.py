"""The retry gate's write-behind: dirty records, their submissions, and the flush timer.

Owned by one gate and called only from its task (the timer task only sends the gate a
message). A record is *dirty* from its change until it is handed to the writer, then *in
flight* until that submission commits; the gate never evicts a record that is either.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Final, final

import structlog

from actorgrid.kernel import Message
from actorgrid.storage import Op, StorageError

from ._store import record_to_row

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.sql.expression import Executable

    from actorgrid.storage import Receipt, Writer

    from ._policy import RetryRecord

__all__ = ("FLUSH", "Flush", "WriteBehind")

_log = structlog.get_logger("actorgrid.actors.retry_gate")

HOLD_TIMEOUT: Final = 30.0
"""Seconds of the gate's clock after which a hold no caller released is dropped (a caller
that crashed between the reply and its submission never releases)."""


class Flush(Message, frozen=True):
    """Sent by the gate's timer to the gate: hand the dirty records to the writer."""


FLUSH: Final = Flush()


@final
class WriteBehind:
    """Tracks changed records and hands them to the writer in batches, never waiting.

    Args:
        writer: the group-commit writer.
        upsert: the version-guarded ``retry_records`` upsert for the writer's dialect.
        flush_rows: flush at once when this many records are dirty.
        now: the clock (for ``updated_at``).
        on_dirty: called when the first record becomes dirty after a flush (arms the timer).
        name: the gate's name, for log events.
    """

    __slots__ = (
        "_flush_rows",
        "_name",
        "_now",
        "_on_dirty",
        "_receipts",
        "_upsert",
        "_writer",
        "dirty",
        "flushes",
        "held",
        "in_flight",
        "rows_flushed",
        "write_errors",
    )

    def __init__(
        self,
        writer: Writer,
        upsert: Executable,
        flush_rows: int,
        now: Callable[[], float],
        on_dirty: Callable[[], None],
        name: str,
    ) -> None:
        self._writer = writer
        self._upsert = upsert
        self._flush_rows = flush_rows
        self._now = now
        self._on_dirty = on_dirty
        self._name = name
        self._receipts: deque[tuple[Receipt, list[RetryRecord]]] = deque()
        self.dirty: dict[int, RetryRecord] = {}
        """Changed records not handed to the writer yet, by ``id``."""
        self.in_flight: dict[int, Receipt] = {}
        """Handed to the writer, not committed yet: ``id`` of the record -> latest receipt."""
        self.held: dict[int, list[Any]] = {}
        """Records whose latest change a caller commits itself, in the transaction of its
        own state change: ``id`` -> [record, holds, deadline]. The gate writes nothing of a
        held record until every caller said it submitted (:meth:`release`): the writer
        commits in submission order, so the gate's copy can never land before the caller's
        transaction. A hold a caller never releases expires after ``HOLD_TIMEOUT``."""
        self.flushes = 0
        self.rows_flushed = 0
        self.write_errors = 0

    def attach(self, on_dirty: Callable[[], None]) -> None:
        """Report to a new gate incarnation's timer from now on (after a restart)."""
        self._on_dirty = on_dirty

    def mark(self, record: RetryRecord) -> None:
        """Note that ``record`` changed; flush when ``flush_rows`` records are dirty."""
        dirty = self.dirty
        if not dirty:
            self._on_dirty()
        dirty[id(record)] = record
        if len(dirty) >= self._flush_rows:
            self.flush()

    def hold(self, record: RetryRecord) -> None:
        """Note a change that a caller commits itself; write nothing of it until released."""
        entry = self.held.get(id(record))
        deadline = self._now() + HOLD_TIMEOUT
        if entry is None:
            self.held[id(record)] = [record, 1, deadline]
        else:
            entry[1] += 1
            entry[2] = deadline
        self.mark(record)  # written behind too (a no-op by the version guard) once released

    def release(self, record: RetryRecord) -> None:
        """A caller submitted its transaction with ``record``'s row: one hold less."""
        entry = self.held.get(id(record))
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del self.held[id(record)]
            if self.dirty:
                self._on_dirty()

    def _expire_holds(self, now: float) -> None:
        for key, (record, _, deadline) in list(self.held.items()):
            if deadline <= now:
                del self.held[key]
                _log.warning(
                    "retry_gate_hold_expired",
                    actor=self._name,
                    target_type=record.target_type,
                    target_id=record.target_id,
                )

    def busy(self, record: RetryRecord) -> bool:
        """Whether ``record`` has a change that is not committed yet (call :meth:`reap` first)."""
        key = id(record)
        return key in self.dirty or key in self.in_flight or key in self.held

    def flush(self) -> StorageError | None:
        """Hand every dirty record to the writer in one submission; never waits.

        Returns:
            ``None``, or the error ``submit`` raised (the records stay dirty; it is logged).
        """
        dirty = self.dirty
        if not dirty:
            return None
        now = self._now()
        held = self.held
        if held:
            self._expire_holds(now)
            records = [r for key, r in dirty.items() if key not in held]
            if not records:
                self._on_dirty()  # only held records: look again next interval
                return None
        else:
            records = list(dirty.values())
        upsert = self._upsert
        try:
            receipt = self._writer.submit(*[Op(upsert, record_to_row(r, now)) for r in records])
        except StorageError as exc:
            _log.error(
                "retry_gate_flush_failed", actor=self._name, rows=len(records), error=str(exc)
            )
            return exc
        if len(records) == len(dirty):
            dirty.clear()
        else:
            for record in records:
                del dirty[id(record)]
            self._on_dirty()
        in_flight = self.in_flight
        for record in records:
            in_flight[id(record)] = receipt
        self._receipts.append((receipt, records))
        self.flushes += 1
        self.rows_flushed += len(records)
        return None

    def reap(self) -> StorageError | None:
        """Forget committed submissions; mark the records of rejected ones dirty again.

        Returns:
            ``None``, or the last rejection found (each one is logged).
        """
        receipts, in_flight, dirty = self._receipts, self.in_flight, self.dirty
        failure: StorageError | None = None
        while receipts and receipts[0][0].done:
            receipt, records = receipts.popleft()
            error = receipt.error
            if error is not None:
                self.write_errors += 1
                failure = error if isinstance(error, StorageError) else failure
                _log.warning(
                    "retry_gate_write_rejected",
                    actor=self._name,
                    rows=len(records),
                    error=str(error),
                )
            for record in records:
                key = id(record)
                if in_flight.get(key) is receipt:
                    del in_flight[key]
                    if error is not None:
                        dirty[key] = record
        if failure is not None and dirty:
            self._on_dirty()
        return failure

    async def flush_and_wait(self) -> None:
        """Flush, then wait until the writer committed everything handed to it so far.

        Raises:
            StorageError: the submission failed (``WriterClosed``...) or the writer rejected
                one (``WriteRejected``); the records concerned are dirty again.
        """
        self.held.clear()  # everything now: callers submit before they stop or ask for this
        error = self.flush()
        if self._receipts:
            await self._writer.flush()
        rejected = self.reap()
        if error is not None:
            raise error
        if rejected is not None:
            raise rejected
