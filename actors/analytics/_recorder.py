"""The analytics recorder: samples the broker's counters, writes the deltas behind, prunes.

Every ``flush_interval`` seconds of the runtime's clock, and at every minute boundary, it
reads the broker's per-topic counters, adds what they gained since the last reading to the
minute and hour buckets of the interval's start, and hands those deltas to the one
:class:`~actorgrid.storage.Writer` as additive upserts (without a database: to the buckets
in memory). Every ``prune_interval`` it deletes the buckets past their retention, in
batches, in a task beside its mailbox (a prune waits for the database; a sample never
waits for a prune). Stopping takes a last sample and waits for its commit (the runtime stops the
recorder after the workers and before the writer closes); a crash leaves everything in the
shared :class:`AnalyticsState` for the next incarnation.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import structlog

from actorgrid.kernel import Actor, MailboxFull, Message, UnhandledMessage, send_every

from ._buckets import HOUR, MINUTE
from ._table import prune_buckets

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.kernel import ActorRef, Clock
    from actorgrid.storage import Writer

    from ._settings import AnalyticsSettings
    from ._state import AnalyticsState

__all__ = ("AnalyticsRecorder", "PruneBuckets", "SampleNow")

_log = structlog.get_logger("actorgrid.analytics")


class SampleNow(Message, frozen=True):
    """Take a sample and write it behind (the tick; also a test's way to force one)."""


class PruneBuckets(Message, frozen=True):
    """Delete the buckets past their retention."""


_SAMPLE = SampleNow()
_PRUNE = PruneBuckets()


async def _tick(ref: ActorRef[Any], clock: Clock, interval: float) -> None:
    """Send :class:`SampleNow` every ``interval`` seconds and at every minute boundary."""
    while True:
        now = clock.now()
        boundary = (math.floor(now / MINUTE) + 1) * MINUTE
        await clock.sleep_until(min(now + interval, boundary))
        try:
            ref.tell_nowait(_SAMPLE)
        except MailboxFull:
            continue
        except Exception:  # the recorder stopped
            return


class AnalyticsRecorder(Actor[Any]):
    """The recorder actor; spawn it with a factory sharing one ``state``.

    Args:
        state: what every incarnation shares (create it once, outside the factory).
        settings: ``[analytics]``.
        engine: the database the buckets are pruned in (``None``: in memory).
        writer: the writer the deltas go through (``None``: in memory).
    """

    def __init__(
        self,
        state: AnalyticsState,
        settings: AnalyticsSettings,
        *,
        engine: AsyncEngine | None,
        writer: Writer | None,
    ) -> None:
        if (engine is None) != (writer is None) or (engine is None) != (state.memory is not None):
            raise ValueError("AnalyticsRecorder: a database (engine and writer) or memory state")
        self._state = state
        self._settings = settings
        self._engine = engine
        self._writer = writer
        self._dialect = engine.dialect.name if engine is not None else None
        self._pruning = False
        self._prune_again = False
        self.pruned = 0

    async def on_start(self) -> None:
        """Start the sample ticker and the prune timer (the first incarnation also starts
        the first interval)."""
        clock = self.actor_clock
        if self._state.sampled_at is None:
            self._state.sampled_at = clock.now()
        s = self._settings
        self.actor_start_task(
            _tick, self.actor_ref, clock, s.flush_interval, name=f"{self.actor_name}:tick"
        )
        self.actor_start_task(
            send_every,
            self.actor_ref,
            clock,
            s.prune_interval,
            _PRUNE,
            name=f"{self.actor_name}:prune",
        )

    async def receive(self, message: Any) -> Any:
        """Sample and write behind, or prune.

        Raises:
            UnhandledMessage: for anything else.
        """
        if type(message) is SampleNow:
            await self._sample()
            return None
        if type(message) is PruneBuckets:
            if self._state.memory is not None:
                self._prune_memory()
            elif self._pruning:
                self._prune_again = True  # with the newer cutoffs, once this one is done
            else:
                # Beside the mailbox: a prune waits for the database, a sample must not.
                self._pruning = True
                self.actor_start_task(self._prune, name=f"{self.actor_name}:pruning")
            return None
        raise UnhandledMessage(self.actor_name, message)

    async def on_stop(self) -> None:
        """The last sample, written and committed (the writer closes after the kernel)."""
        await self._sample()
        await self._state.settle()

    async def _sample(self) -> None:
        state = self._state
        async with state.lock:
            state.sample(self.actor_clock.now())
            state.flush(self._writer, self._dialect)

    def _cutoffs(self) -> tuple[tuple[int, float], ...]:
        now = self.actor_clock.now()
        s = self._settings
        return (
            (MINUTE, now - s.minute_retention_seconds),
            (HOUR, now - s.hour_retention_seconds),
        )

    def _prune_memory(self) -> None:
        memory = self._state.memory
        assert memory is not None
        for size, cutoff in self._cutoffs():
            self.pruned += memory.prune(size, cutoff)

    async def _prune(self) -> None:
        """Delete the stored buckets past their retention, in batches (a task of its own)."""
        assert self._engine is not None
        assert self._writer is not None
        try:
            again = True
            while again:
                self._prune_again = False
                for size, cutoff in self._cutoffs():
                    self.pruned += await prune_buckets(self._engine, self._writer, size, cutoff)
                again = self._prune_again
        except Exception as exc:  # the next pass tries again
            _log.warning("analytics_prune_failed", error=repr(exc))
        finally:
            self._pruning = False
