"""What the analytics recorder keeps across its incarnations: readings and unwritten deltas.

Created once by the runtime and handed to every incarnation of the
:class:`~actorgrid.actors.analytics.AnalyticsRecorder` (like the retry gate's ``GateState``):
the last reading of the broker's counters, the deltas sampled and not yet submitted, the
submissions not yet committed, and (without a database) the buckets themselves. Every
change here is synchronous, so a crash of the recorder between two of its messages can
neither lose a delta nor count one twice: a delta is in exactly one of the unsampled
counters, ``pending``, ``in_flight`` or the store.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, final

import anyio
import structlog

from ._buckets import Buckets
from ._sample import diff, read_counters
from ._table import upsert_ops

if TYPE_CHECKING:
    from collections.abc import Mapping

    from actorgrid.storage import Receipt, Writer

    from ..broker import TopicCounters
    from ._sample import Reading

__all__ = ("AnalyticsState",)

_log = structlog.get_logger("actorgrid.analytics")


@final
class AnalyticsState:
    """Readings, unwritten deltas and (in memory) the buckets of one runtime.

    Args:
        counters: the broker's live counters by topic (read, never written).
        memory: keep the buckets here (no database); else they are written through a writer.
    """

    __slots__ = (
        "baseline",
        "counters",
        "flushes",
        "in_flight",
        "lock",
        "memory",
        "pending",
        "rows_written",
        "sampled_at",
        "write_errors",
    )

    def __init__(self, counters: Mapping[str, TopicCounters], *, memory: bool) -> None:
        self.counters = counters
        self.baseline: Reading = {}
        """The counters as last sampled."""
        self.sampled_at: float | None = None
        """When they were sampled: the deltas seen at the next sample are counted at this
        time (the start of the interval they happened in)."""
        self.pending = Buckets()
        """Sampled deltas not yet handed to the writer (or to ``memory``)."""
        self.in_flight: list[tuple[Receipt, Buckets]] = []
        """Submitted deltas and their receipts, until committed (a rejected one goes back to
        ``pending``)."""
        self.memory: Buckets | None = Buckets() if memory else None
        """Without a database: the buckets, bounded by the retention prune."""
        self.lock = anyio.Lock()
        """Held by a flush and by a query, so a query never sees a delta both in the table
        and in memory."""
        self.flushes = 0
        self.rows_written = 0
        self.write_errors = 0

    def sample(self, now: float) -> None:
        """Move what the counters gained since the last sample into ``pending``."""
        at = self.sampled_at if self.sampled_at is not None else now
        reading = read_counters(self.counters)
        self.pending.add_deltas(at, diff(reading, self.baseline))
        self.baseline = reading
        self.sampled_at = now

    def flush(self, writer: Writer | None, dialect: str | None) -> None:
        """Hand ``pending`` to the writer as additive upserts (or add it to ``memory``)."""
        self.reap()
        if not self.pending:
            return
        if self.memory is not None:
            self.memory.merge(self.pending.take())
            self.flushes += 1
            return
        assert writer is not None
        assert dialect is not None
        taken = self.pending.take()
        try:
            receipt = writer.submit(*upsert_ops(dialect, taken))
        except Exception as exc:  # closed or closing: keep them for a later flush
            self.pending.merge(taken)
            self.write_errors += 1
            _log.warning("analytics_flush_failed", error=repr(exc))
            return
        self.in_flight.append((receipt, taken))
        self.flushes += 1
        self.rows_written += len(taken)

    def reap(self) -> None:
        """Forget committed submissions; put the deltas of rejected ones back."""
        if not self.in_flight:
            return
        kept: list[tuple[Receipt, Buckets]] = []
        for receipt, deltas in self.in_flight:
            if not receipt.done:
                kept.append((receipt, deltas))
            elif receipt.error is not None:
                self.write_errors += 1
                self.pending.merge(deltas)
                _log.warning("analytics_write_rejected", error=repr(receipt.error))
        self.in_flight = kept

    async def settle(self) -> None:
        """Wait until every submission is committed or rejected, then :meth:`reap`."""
        for receipt, _ in list(self.in_flight):
            with contextlib.suppress(Exception):  # reported on the receipt, reaped below
                await receipt.wait()
        self.reap()

    def unwritten(self, now: float) -> Buckets:
        """The deltas not in the store yet: pending, in flight, and the counters' gain since
        the last sample (counted at the sample's time), without changing anything."""
        found = Buckets()
        found.merge(self.pending)
        for _, deltas in self.in_flight:
            found.merge(deltas)
        at = self.sampled_at if self.sampled_at is not None else now
        found.add_deltas(at, diff(read_counters(self.counters), self.baseline))
        return found
