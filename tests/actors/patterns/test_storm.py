"""Load shedding: under a storm of failure notes beyond what the engine indexes, notes are
dropped and counted, and a lookup waits behind at most ``note_backlog_limit`` of them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actorgrid import PatternSettings
from actorgrid.actors.patterns import Glimpse, NoteFailure

from .support import LOCKED, TIMEOUT, context, running_engine
from .test_engine_failures import RecordingEmbedder

if TYPE_CHECKING:
    from pathlib import Path

    from actorgrid.kernel import FakeClock

STORM = 100
LIMIT = 5


class TestStorm:
    async def test_notes_beyond_the_backlog_are_shed_and_counted(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """100 notes land at once with a glimpse behind them: every note that still has more
        than 5 messages waiting behind it is dropped unindexed; the glimpse is answered
        after at most 5 failure texts were embedded."""
        embedder = RecordingEmbedder()
        settings = PatternSettings(note_backlog_limit=LIMIT, failure_batch_size=2)
        async with running_engine(db_path, clock, settings, embedder=embedder) as pe:
            await pe.add_runbooks()
            embedder.seen.clear()
            for i in range(STORM):
                pe.ref.tell_nowait(NoteFailure(context(f"t{i}", 1, LOCKED.format(i))))
            [ref] = await pe.ask(Glimpse(context("g", 1, TIMEOUT)))  # queued behind them
            failures_embedded = [t for t in embedder.seen if t.startswith("OperationalError")]
            stats = await pe.stats()
        # The note taken i-th (from 0) has STORM - i messages behind it (the glimpse too).
        shed = sum(1 for i in range(STORM) if STORM - i > LIMIT)
        assert stats.notes_dropped == shed == STORM - LIMIT
        assert stats.failures == LIMIT
        assert len(failures_embedded) <= LIMIT
        assert ref.source == "runbooks/upstream-timeout.md"

    async def test_nothing_is_shed_at_a_rate_the_engine_keeps_up_with(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        settings = PatternSettings(note_backlog_limit=LIMIT)
        async with running_engine(db_path, clock, settings) as pe:
            for i in range(3 * LIMIT):
                await pe.fail(f"t{i}", 1, LOCKED.format(i))  # each note taken before the next
            stats = await pe.stats()
        assert (stats.notes_dropped, stats.failures) == (0, 3 * LIMIT)

    async def test_the_counter_outlives_an_incarnation(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """Shed notes are counted in counters kept outside the actor, as the runtime keeps
        them for ``Runtime.metrics()``."""
        from actorgrid.actors.patterns import PatternCounters

        counters = PatternCounters()
        settings = PatternSettings(note_backlog_limit=0)
        async with running_engine(db_path, clock, settings, counters=counters) as pe:
            for i in range(3):
                pe.ref.tell_nowait(NoteFailure(context(f"t{i}", 1, LOCKED.format(i))))
            stats = await pe.stats()
        assert counters.notes_shed == stats.notes_dropped == 3  # the stats ask waited behind
