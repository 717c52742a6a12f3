"""The pattern engine's failure memory, recurring patterns, glimpse and revise."""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING

import msgspec
from structlog.testing import capture_logs

from actorgrid import REVISION_SUBPROCESS, HashingEmbedder, PatternSettings, Revision
from actorgrid.actors.patterns import ChunkUse, FailureContext, Glimpse, NoteFailure, Revise
from actorgrid.actors.patterns.embedders import HASHING_THRESHOLDS, IdfWeights
from actorgrid.actors.patterns.index import VectorIndex
from actorgrid.kernel.testing import settle, wait_until

from ..common import T0
from .support import (
    LOCKED,
    MINUTE,
    RUNBOOKS,
    TIMEOUT,
    UNRELATED,
    EngineHarness,
    context,
    running_engine,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt

    from actorgrid.kernel import FakeClock


class RecordingEmbedder(HashingEmbedder):
    """The default embedder, recording the texts it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.seen.extend(texts)
        return super().embed(texts)


SLOW = PatternSettings(failure_flush_interval=3600.0)
"""Buffered failures wait for a lookup (or an hour of fake time) before they are indexed."""


def failure_rows(pe: EngineHarness) -> list[tuple[int, str, dict[str, object], float]]:
    """Every failure chunk in the file: id, text, metadata, created_at."""
    found = pe.query(
        "SELECT id, text, metadata, created_at FROM reference_chunks"
        " WHERE source = 'failure' ORDER BY id"
    )
    return [(i, text, json.loads(meta), at) for i, text, meta, at in found]


async def revise(pe: EngineHarness, target_id: str, attempt: int, text: str) -> Revision:
    result: Revision = await pe.ask(Revise(context(target_id, attempt, text)))
    return result


class TestFailureNotes:
    async def test_failures_become_failure_chunks(self, db_path: Path, clock: FakeClock) -> None:
        """Each note is stored as a 'failure' chunk with its target, attempt and outcome."""
        async with running_engine(db_path, clock) as pe:
            await pe.fail("a", 1, LOCKED.format(10001), topic="orders")
            clock.advance(MINUTE)
            await pe.fail("b", 2, UNRELATED)
            await pe.flush()
            stored = failure_rows(pe)
            found = await pe.search(UNRELATED, k=1, source="failure")
        assert [(text, at) for _, text, _, at in stored] == [
            (LOCKED.format(10001), T0),
            (UNRELATED, T0 + MINUTE),
        ]
        assert stored[0][2] == {
            "topic": "orders",
            "target": "entity:a",
            "message_id": "msg-a",
            "attempt": 1,
            "outcome": "pending",
            "error_type": "OperationalError",
        }
        assert stored[1][2]["target"] == "entity:b"
        assert stored[1][2]["attempt"] == 2
        [hit] = found
        assert (hit.source, hit.text, hit.metadata["target"]) == ("failure", UNRELATED, "entity:b")

    async def test_buffered_then_indexed_on_a_short_timer(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """Notes wait in a buffer and are indexed together one flush interval later."""
        settings = PatternSettings(failure_flush_interval=0.5)
        async with running_engine(db_path, clock, settings) as pe:
            for i in range(5):
                await pe.fail(f"t{i}", 1, LOCKED.format(10000 + i))
            await settle()
            assert failure_rows(pe) == []
            clock.advance(0.5)
            await wait_until(lambda: len(failure_rows(pe)) == 5)
            assert (await pe.stats()).failures == 5

    async def test_a_full_buffer_is_indexed_at_once(self, db_path: Path, clock: FakeClock) -> None:
        """failure_batch_size notes are indexed without waiting for the timer."""
        settings = PatternSettings(failure_flush_interval=3600.0, failure_batch_size=3)
        async with running_engine(db_path, clock, settings) as pe:
            for i in range(4):
                await pe.fail(f"t{i}", 1, TIMEOUT)
            await wait_until(lambda: len(failure_rows(pe)) == 3)
            await settle()
            assert len(failure_rows(pe)) == 3  # the fourth waits in the buffer

    async def test_a_burst_is_indexed_in_batches(self, db_path: Path, clock: FakeClock) -> None:
        """Hundreds of notes told at once are all indexed; lookups answer meanwhile."""
        settings = PatternSettings(failure_flush_interval=3600.0, failure_batch_size=64)
        async with running_engine(db_path, clock, settings) as pe:
            await pe.add_runbooks()
            for i in range(300):
                pe.ref.tell_nowait(NoteFailure(context(f"t{i}", 1, LOCKED.format(10000 + i))))
            refs = await pe.ask(Glimpse(context("t0", 2, "sqlite3.OperationalError: x")))
            await pe.flush()
            stats = await pe.stats()
            [pattern] = await pe.patterns()
            assert len(failure_rows(pe)) == 300
        assert [r.source for r in refs] == ["runbooks/sqlite-locked.md"]
        assert (stats.failures, stats.buffered_failures, stats.patterns) == (300, 0, 1)
        assert (pattern.count, pattern.target_count, len(pattern.targets)) == (300, 300, 10)

    async def test_lookups_see_every_earlier_note(self, db_path: Path, clock: FakeClock) -> None:
        """A lookup indexes the buffer first, so it never misses a failure noted before it."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.fail("a", 1, TIMEOUT)
            [hit] = await pe.search(TIMEOUT, k=1, source="failure")
            assert hit.metadata["target"] == "entity:a"

    async def test_retry_early_is_not_part_of_the_text(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """'RetryEarly: <error>' is indexed as the error alone (RetryEarly is a request)."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.fail("a", 1, f"RetryEarly: {TIMEOUT}", error_type="RetryEarly")
            await pe.fail("b", 1, "RetryEarly", error_type="RetryEarly")
            await pe.flush()
            assert [text for _, text, _, _ in failure_rows(pe)] == [TIMEOUT, "RetryEarly"]

    async def test_malformed_notes_are_ignored(self, db_path: Path, clock: FakeClock) -> None:
        """A note without error text or with an unknown outcome changes nothing."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.fail("a", 1, TIMEOUT)
            pe.ref.tell_nowait(
                NoteFailure(
                    FailureContext(
                        topic="t", target_type="entity", target_id="x", message_id="m", attempt=1
                    )
                )
            )
            await pe.outcome("a", "maybe")
            stats = await pe.stats()
            await pe.flush()
            assert (stats.failures, stats.notes_ignored) == (1, 2)
            [(_, _, meta, _)] = failure_rows(pe)
            assert meta["outcome"] == "pending"

    async def test_oldest_failures_are_pruned(self, db_path: Path, clock: FakeClock) -> None:
        """Beyond max_failures the oldest failure chunks are deleted, rows and index."""
        settings = PatternSettings(max_failures=3, failure_flush_interval=3600.0)
        async with running_engine(db_path, clock, settings) as pe:
            await pe.add_runbooks()
            for i in range(5):
                await pe.fail(f"t{i}", 1, f"{UNRELATED} number {'abcde'[i] * 3}")
            await pe.flush()
            stats = await pe.stats()
            kept = failure_rows(pe)
        assert (stats.failures, stats.references) == (3, 5)
        assert [meta["target"] for _, _, meta, _ in kept] == ["entity:t2", "entity:t3", "entity:t4"]


class TestRecurringPatterns:
    async def test_alike_failures_form_a_pattern(self, db_path: Path, clock: FakeClock) -> None:
        """Alike failures of several targets form one pattern: count, targets, first and last
        seen; an unrelated failure stays out of it."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.fail("a", 1, LOCKED.format(10001))
            clock.advance(MINUTE)
            await pe.fail("z", 1, UNRELATED)
            await pe.fail("b", 1, LOCKED.format(20002))
            clock.advance(MINUTE)
            await pe.fail("c", 1, LOCKED.format(30003))
            [pattern] = await pe.patterns()
            stats = await pe.stats()
        assert pattern.count == 3
        assert pattern.targets == ("entity:a", "entity:b", "entity:c")
        assert pattern.target_count == 3
        assert (pattern.first_seen, pattern.last_seen) == (T0, T0 + 2 * MINUTE)
        assert pattern.outcomes == {"pending": 3}
        assert pattern.example == LOCKED.format(10001)
        assert stats.patterns == 1

    async def test_outcomes_are_recorded(self, db_path: Path, clock: FakeClock) -> None:
        """NoteOutcome sets the outcome of the target's pending failures, in memory and rows."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.fail("a", 1, TIMEOUT)
            await pe.fail("a", 2, TIMEOUT)
            await pe.fail("b", 1, TIMEOUT)
            await pe.fail("c", 1, TIMEOUT)
            await pe.outcome("a", "success")
            await pe.outcome("b", "dead")
            [pattern] = await pe.patterns()
            await pe.flush()
            outcomes = {
                (meta["target"], meta["attempt"]): meta["outcome"]
                for _, _, meta, _ in failure_rows(pe)
            }
        assert pattern.count == 4
        assert pattern.outcomes == {"pending": 1, "success": 2, "dead": 1}
        assert outcomes == {
            ("entity:a", 1): "success",
            ("entity:a", 2): "success",
            ("entity:b", 1): "dead",
            ("entity:c", 1): "pending",
        }

    async def test_a_new_cycle_after_an_outcome_is_pending_again(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """An outcome ends the failures before it; a later failure starts pending."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.fail("a", 1, TIMEOUT)
            await pe.outcome("a", "success")
            await pe.fail("a", 1, TIMEOUT, message_id="msg-a2")
            [pattern] = await pe.patterns()
        assert pattern.outcomes == {"pending": 1, "success": 1}

    async def test_patterns_survive_a_restart(self, db_path: Path, clock: FakeClock) -> None:
        """Pattern membership is kept in the rows, so a restart shows the same patterns."""
        async with running_engine(db_path, clock, SLOW) as pe:
            for i, target in enumerate("abc"):
                await pe.fail(target, 1, LOCKED.format(10001 + i))
            await pe.fail("d", 1, TIMEOUT)
            await pe.fail("e", 1, TIMEOUT)
            await pe.outcome("a", "dead")
            before = await pe.patterns()
        async with running_engine(db_path, clock, SLOW) as pe:
            after = await pe.patterns()
            clock.advance(MINUTE)
            await pe.fail("f", 1, TIMEOUT)
            grown = await pe.patterns()
        assert len(before) == 2
        assert after == before
        assert [p.count for p in grown] == [3, 3]
        assert grown[0].targets == ("entity:d", "entity:e", "entity:f")


class TestTwoIndexes:
    """Failures have their own index file beside the references' one."""

    async def test_each_index_is_saved_and_loaded(self, db_path: Path, clock: FakeClock) -> None:
        """After a restart both files load (no rebuild) and answer as before."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.add_runbooks()
            await pe.fail("a", 1, TIMEOUT)
            await pe.fail("b", 1, LOCKED.format(10001))
            before = await pe.search(TIMEOUT, k=3)
            stats = await pe.stats()
        failures_file = db_path.with_name("actorgrid.db.failures.hnsw")
        assert stats.failure_index_path == str(failures_file)
        assert failures_file.exists()
        assert db_path.with_name("actorgrid.db.hnsw").exists()
        async with running_engine(db_path, clock, SLOW) as pe:
            after = await pe.search(TIMEOUT, k=3)
            again = await pe.stats()
        assert after == before
        assert (after[0].source, after[0].text) == ("failure", TIMEOUT)
        assert after[1].source == "runbooks/upstream-timeout.md"  # both indexes, merged
        assert (again.rebuilds, again.failures, again.references) == (0, 2, len(RUNBOOKS))

    async def test_a_damaged_failure_index_is_rebuilt_alone(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """A corrupt failures file is rebuilt from the table; the references' file is used."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.add_runbooks()
            await pe.fail("a", 1, TIMEOUT)
        failures_file = db_path.with_name("actorgrid.db.failures.hnsw")
        failures_file.write_bytes(failures_file.read_bytes()[:50])
        with capture_logs() as logs:
            async with running_engine(db_path, clock, SLOW) as pe:
                stats = await pe.stats()
                [hit] = await pe.search(TIMEOUT, k=1, source="failure")
        [warning] = [e for e in logs if e["event"] == "pattern_index_rebuilt"]
        assert (warning["index"], warning["chunks"]) == ("failures", 1)
        assert stats.rebuilds == 1
        assert stats.rebuild_reason is not None
        assert stats.rebuild_reason.startswith("failures: ")
        assert hit.text == TIMEOUT

    async def test_one_shared_index_of_an_earlier_layout_is_split(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """An index file holding references and failures together (as earlier versions
        saved it) loses its failures to the failures' index, which is built from the table."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.add_runbooks()
            await pe.fail("a", 1, TIMEOUT)
            await pe.fail("b", 1, UNRELATED)
        rows = [
            (int(i), str(t))
            for i, t in sqlite3.connect(db_path).execute(
                "SELECT id, text FROM reference_chunks ORDER BY id"
            )
        ]
        weights = IdfWeights.load(db_path.with_name("actorgrid.db.hnsw.idf.npz"))
        embedder = HashingEmbedder(idf=weights)  # the references' weights, saved beside
        shared = VectorIndex(embedder.dim, embedder_name=embedder.name)
        shared.add([i for i, _ in rows], embedder.embed([t for _, t in rows]))
        shared.save(db_path.with_name("actorgrid.db.hnsw"))
        db_path.with_name("actorgrid.db.failures.hnsw").unlink()
        with capture_logs() as logs:
            async with running_engine(db_path, clock, SLOW) as pe:
                stats = await pe.stats()
                refs = await pe.ask(Glimpse(context("c", 2, TIMEOUT)))
                [failure] = await pe.search(UNRELATED, k=1, source="failure")
        [reconciled] = [e for e in logs if e["event"] == "pattern_index_reconciled"]
        assert (reconciled["index"], reconciled["added"], reconciled["removed"]) == (
            "references",
            0,
            2,
        )
        assert (stats.references, stats.failures) == (len(RUNBOOKS), 2)
        assert [r.source for r in refs] == ["runbooks/upstream-timeout.md"]
        assert failure.text == UNRELATED


class TestGlimpse:
    async def test_one_runbook_and_never_a_failure(self, db_path: Path, clock: FakeClock) -> None:
        """Glimpse returns at most one chunk >= the glimpse threshold, from the runbooks, not
        the failures."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.add_runbooks()
            await pe.fail("a", 1, "sqlite3.OperationalError: database is locked")
            refs = await pe.ask(
                Glimpse(context("a", 2, "sqlite3.OperationalError: database is locked"))
            )
        [ref] = refs
        assert ref.source == "runbooks/sqlite-locked.md"
        assert ref.similarity >= HASHING_THRESHOLDS.glimpse

    async def test_does_not_wait_for_buffered_failures(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """A glimpse reads only references, so buffered failures stay buffered (unembedded)
        until a lookup that reads failures indexes them."""
        embedder = RecordingEmbedder()
        async with running_engine(db_path, clock, SLOW, embedder=embedder) as pe:
            await pe.add_runbooks()
            noted = LOCKED.format(10001)
            await pe.fail("a", 1, noted)
            embedder.seen.clear()
            [ref] = await pe.ask(Glimpse(context("b", 2, TIMEOUT)))
            assert embedder.seen == [TIMEOUT]
            await pe.flush()
        assert ref.source == "runbooks/upstream-timeout.md"
        assert noted in embedder.seen

    async def test_nothing_below_the_threshold(self, db_path: Path, clock: FakeClock) -> None:
        """An error no runbook is close to gets no chunk; neither does an empty engine."""
        async with running_engine(db_path, clock, SLOW) as pe:
            assert await pe.ask(Glimpse(context("a", 2, TIMEOUT))) == ()
            await pe.add_runbooks()
            assert await pe.ask(Glimpse(context("a", 2, UNRELATED))) == ()
            assert await pe.ask(Glimpse(context("a", 2, None))) == ()

    async def test_thresholds_and_k_are_configurable(self, db_path: Path, clock: FakeClock) -> None:
        """glimpse_k and glimpse_min_similarity come from the settings."""
        settings = PatternSettings(glimpse_k=2, glimpse_min_similarity=0.05)
        async with running_engine(db_path, clock, settings) as pe:
            await pe.add_runbooks()
            refs = await pe.ask(Glimpse(context("a", 2, TIMEOUT)))
        assert len(refs) == 2
        assert refs[0].source == "runbooks/upstream-timeout.md"


class TestRevise:
    async def test_references_suggestions_pattern_and_marker(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """Revise returns up to 3 chunks >= the revise threshold and suggestions that name the
        runbook, this target's repeated error, and alike failures of other targets with their
        outcomes."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.add_runbooks()
            await pe.fail("a", 1, TIMEOUT)
            await pe.outcome("a", "success")
            for attempt in (1, 2):
                await pe.fail("b", attempt, TIMEOUT)
            await pe.outcome("b", "dead")
            for attempt in (1, 2, 3):
                clock.advance(30 * MINUTE)
                await pe.fail("c", attempt, TIMEOUT)
            revision = await revise(pe, "c", 4, TIMEOUT)
            again = await revise(pe, "c", 4, TIMEOUT)
        assert revision.marker == REVISION_SUBPROCESS == "REVISION_SUBPROCESS"
        assert 1 <= len(revision.references) <= 3
        assert revision.references[0].source == "runbooks/upstream-timeout.md"
        assert all(
            r.similarity >= HASHING_THRESHOLDS.revise and r.source != "failure"
            for r in revision.references
        )
        text = "\n".join(revision.suggestions)
        assert "reference runbooks/upstream-timeout.md: TimeoutError: upstream request" in text
        assert "the same error repeated on all 3 attempts so far" in text
        assert "this resembles 3 earlier failures of 2 other targets (entity:a, entity:b)" in text
        assert "1 ended in success (entity:a after 1 failed attempt)" in text
        assert "1 in the dead-letter queue (entity:b after 2 failed attempts)" in text
        assert "alike failures ended both ways" in text
        assert revision.pattern is not None
        assert revision.pattern.count == 6
        assert revision.pattern.targets == ("entity:a", "entity:b", "entity:c")
        assert revision.pattern.outcomes == {"pending": 3, "success": 1, "dead": 2}
        assert (revision.pattern.first_seen, revision.pattern.last_seen) == (T0, T0 + 90 * MINUTE)
        # Deterministic, but for what the first revision attached to the pattern's failure.
        assert revision.pattern.chunks == ()
        assert again.pattern is not None
        assert again.pattern.chunks == tuple(
            ChunkUse(chunk_id=r.chunk_id, source=r.source, count=1)
            for r in sorted(revision.references, key=lambda r: r.chunk_id)
        )
        assert again == msgspec.structs.replace(
            revision, pattern=msgspec.structs.replace(revision.pattern, chunks=again.pattern.chunks)
        )

    async def test_a_changing_error_is_reported_as_such(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """Different errors on successive attempts give no 'same error' advice."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.fail("c", 1, TIMEOUT)
            await pe.fail("c", 2, UNRELATED)
            await pe.fail("c", 3, LOCKED.format(10001))
            revision = await revise(pe, "c", 4, LOCKED.format(10001))
        text = "\n".join(revision.suggestions)
        assert "the error changed across the 3 attempts so far" in text
        assert "same error" not in text
        assert revision.pattern is None
        assert revision.references == ()
        assert "no reference chunk reached similarity 0.25" in text

    async def test_failures_that_never_recovered(self, db_path: Path, clock: FakeClock) -> None:
        """When every alike failure went to the dead letters, revise says retrying did not help."""
        async with running_engine(db_path, clock, SLOW) as pe:
            for target in ("a", "b"):
                await pe.fail(target, 1, UNRELATED)
                await pe.outcome(target, "dead")
            await pe.fail("c", 1, UNRELATED)
            revision = await revise(pe, "c", 2, UNRELATED)
        text = "\n".join(revision.suggestions)
        assert "2 in the dead-letter queue (entity:a after 1 failed attempt, entity:b" in text
        assert "none of the alike failures recovered by retrying" in text
        assert "the previous attempt failed with: KeyError: 'customer_id'" in text

    async def test_an_empty_engine_still_answers(self, db_path: Path, clock: FakeClock) -> None:
        """With nothing indexed revise returns the marker and a hint to add runbooks."""
        async with running_engine(None, clock) as pe:
            revision = await revise(pe, "c", 4, TIMEOUT)
        assert revision.references == ()
        assert revision.pattern is None
        assert revision.marker == REVISION_SUBPROCESS
        assert revision.suggestions == (
            "no reference chunk reached similarity 0.25 for this error: add a runbook chunk "
            "about it (Runtime.add_chunks)",
        )


class TestAttachedChunks:
    async def test_glimpse_and_revise_chunks_are_counted_on_the_pattern(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """A recurring pattern lists the reference chunks the lookups attached to retries
        of its failures: a glimpse's once it is flushed, a revise's at once."""
        async with running_engine(db_path, clock, SLOW) as pe:
            await pe.add_runbooks()
            await pe.fail("a", 1, TIMEOUT)
            await pe.fail("b", 1, TIMEOUT)
            [before] = await pe.patterns()
            assert before.chunks == ()
            refs = await pe.ask(Glimpse(context("a", 2, TIMEOUT)))
            assert refs
            revision = await revise(pe, "b", 2, TIMEOUT)
            [after] = await pe.patterns()
        expected: dict[int, int] = {}
        for r in (*refs, *revision.references):
            expected[r.chunk_id] = expected.get(r.chunk_id, 0) + 1
        assert {u.chunk_id: u.count for u in after.chunks} == expected
        sources = {r.chunk_id: r.source for r in (*refs, *revision.references)}
        assert all(u.source == sources[u.chunk_id] for u in after.chunks)
        counts = [u.count for u in after.chunks]
        assert counts == sorted(counts, reverse=True)
