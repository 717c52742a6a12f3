"""The references' IDF weights: saved beside the index, refitted when stale, and an index
never read with other weights (or another embedder version) than it was built with."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
from structlog.testing import capture_logs

from actorgrid import ChunkInput, EmbeddingError, HashingEmbedder, PatternSettings
from actorgrid.actors.patterns import AddChunks, DeleteChunks, Glimpse
from actorgrid.actors.patterns.embedders import IdfWeights
from actorgrid.actors.patterns.index import VectorIndex
from actorgrid.kernel import FakeClock

from ..common import T0
from .support import LOCKED, RUNBOOKS, context, running_engine

if TYPE_CHECKING:
    from pathlib import Path


def idf_file(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".hnsw.idf.npz")


def more_chunks(count: int) -> tuple[ChunkInput, ...]:
    return tuple(
        ChunkInput(f"docs/extra-{i}", f"queue consumer {i} lagging behind partition {i % 7}")
        for i in range(count)
    )


class TestPersisted:
    async def test_weights_are_saved_beside_the_index_and_loaded_again(self, db_path: Path) -> None:
        """The weights fitted on the references are saved; the next start uses them and
        the saved index (no refit, no rebuild)."""
        clock = FakeClock(T0)
        async with running_engine(db_path, clock) as pe:
            await pe.add_runbooks()
            before = await pe.stats()
        saved = IdfWeights.load(idf_file(db_path))
        assert saved.documents == len(RUNBOOKS)
        assert before.reference_embedder == f"hashing-v2-384-3-5-idf-{saved.fingerprint}"
        assert before.embedder == "hashing-v2-384-3-5"  # failures: unweighted
        with capture_logs() as logs:
            async with running_engine(db_path, clock) as pe:
                after = await pe.stats()
                [hit] = await pe.search(LOCKED.format(7), k=1)
        assert after.reference_embedder == before.reference_embedder
        assert (after.rebuilds, after.idf_refits, after.idf_documents) == (0, 0, len(RUNBOOKS))
        assert not [
            e for e in logs if e["event"] in ("pattern_idf_fitted", "pattern_index_rebuilt")
        ]
        assert hit.source == "runbooks/sqlite-locked.md"

    async def test_rare_words_weigh_more(self) -> None:
        """A word held by one text weighs more than a word held by every text."""
        texts = ["disk quota exceeded", "disk full on volume", "disk slow to respond"]
        weights = HashingEmbedder().fitted(texts).idf
        assert weights is not None
        key = HashingEmbedder().word_keys
        [common] = key("disk")
        [rare] = key("quota")
        assert weights.weight(rare) > weights.weight(common)

    def test_a_garbled_file_is_an_embedding_error(self, tmp_path: Path) -> None:
        path = tmp_path / "x.idf.npz"
        path.write_bytes(b"not an npz file")
        with pytest.raises(EmbeddingError, match="cannot read IDF weights"):
            IdfWeights.load(path)


class TestStale:
    async def test_refitted_when_enough_references_change(self, db_path: Path) -> None:
        """Adding half the fitted count refits and rebuilds the references' index;
        fewer changes do not; searches find the new chunks with the new weights."""
        clock = FakeClock(T0)
        settings = PatternSettings(idf_refit_fraction=0.5)
        async with running_engine(db_path, clock, settings) as pe:
            await pe.add_runbooks()
            first = await pe.stats()
            assert first.idf_documents == len(RUNBOOKS)
            await pe.ask(AddChunks(more_chunks(1)))  # 1 change < 0.5 x len(RUNBOOKS)
            assert (await pe.stats()).reference_embedder == first.reference_embedder
            with capture_logs() as logs:
                await pe.ask(AddChunks(more_chunks(len(RUNBOOKS))))
                second = await pe.stats()
            [hit] = await pe.search("consumer lagging behind partition", k=1)
        [refit] = [e for e in logs if e["event"] == "pattern_idf_refitted"]
        assert refit["changes"] == 1 + len(RUNBOOKS)
        assert (first.idf_refits, second.idf_refits) == (1, 2)  # 1: the first chunks
        assert second.idf_documents == 2 * len(RUNBOOKS) + 1
        assert second.reference_embedder != first.reference_embedder
        assert hit.source.startswith("docs/extra-")
        assert IdfWeights.load(idf_file(db_path)).documents == second.idf_documents

    async def test_deletions_count_as_changes(self, db_path: Path) -> None:
        clock = FakeClock(T0)
        async with running_engine(db_path, clock, PatternSettings(idf_refit_fraction=0.25)) as pe:
            ids = await pe.add_runbooks()
            await pe.ask(DeleteChunks(ids[: len(ids) // 2 + 1]))
            stats = await pe.stats()
        assert stats.idf_refits == 2  # the first chunks, then the deletions
        assert stats.idf_documents == len(ids) - (len(ids) // 2 + 1)

    async def test_stale_at_start_refits_and_rebuilds_with_a_warning(self, db_path: Path) -> None:
        """Rows added while the engine was stopped make the saved weights stale: the start
        fits new ones and rebuilds the index, and the warning says why."""
        clock = FakeClock(T0)
        async with running_engine(db_path, clock) as pe:
            await pe.add_runbooks()
        old = IdfWeights.load(idf_file(db_path))
        with sqlite3.connect(db_path) as conn:
            for i in range(len(RUNBOOKS)):
                conn.execute(
                    "INSERT INTO reference_chunks (id, source, text, metadata, embedder, dim,"
                    " created_at) VALUES (?, ?, ?, '{}', 'hashing-v2-384-3-5', 384, ?)",
                    (100 + i, f"docs/late-{i}", f"certificate {i} has expired", T0),
                )
        with capture_logs() as logs:
            async with running_engine(db_path, clock) as pe:
                stats = await pe.stats()
                [hit] = await pe.search("certificate has expired", k=1)
        [warning] = [e for e in logs if e["event"] == "pattern_index_rebuilt"]
        assert warning["index"] == "references"
        assert f"built with IDF weights {old.fingerprint}" in warning["reason"]
        assert stats.idf_documents == 2 * len(RUNBOOKS)
        assert hit.source.startswith("docs/late-")


class TestInvalidation:
    async def test_an_index_of_another_embedder_version_is_rebuilt(self, db_path: Path) -> None:
        """An index file written by version 1 of the hashing embedder (a real file, with
        its sidecar) is never read by version 2: it is rebuilt from the table, and the
        warning names both embedders."""
        clock = FakeClock(T0)
        async with running_engine(db_path, clock) as pe:
            await pe.add_runbooks()
        rows = sqlite3.connect(db_path).execute("SELECT id, text FROM reference_chunks").fetchall()
        v1 = HashingEmbedder(version=1)
        old = VectorIndex(v1.dim, embedder_name=v1.name)
        old.add([int(i) for i, _ in rows], v1.embed([str(t) for _, t in rows]))
        old.save(db_path.with_name("actorgrid.db.hnsw"))
        with capture_logs() as logs:
            async with running_engine(db_path, clock) as pe:
                stats = await pe.stats()
                [ref] = await pe.ask(Glimpse(context("a", 1, LOCKED.format(3))))
        [warning] = [e for e in logs if e["event"] == "pattern_index_rebuilt"]
        assert warning["log_level"] == "warning"
        assert "'hashing-v1-384-3-5'" in warning["reason"]
        assert stats.reference_embedder in warning["reason"]
        assert stats.rebuilds == 1
        assert ref.source == "runbooks/sqlite-locked.md"

    async def test_an_index_of_other_weights_is_rebuilt(self, db_path: Path) -> None:
        """Weights replaced beside a saved index (as a crash between the two saves could
        leave them) do not match the index's fingerprint: it is rebuilt, not misread."""
        clock = FakeClock(T0)
        async with running_engine(db_path, clock) as pe:
            await pe.add_runbooks()
        other = HashingEmbedder().fitted([*RUNBOOKS.values(), "another text entirely"]).idf
        assert other is not None
        other.save(idf_file(db_path))
        with capture_logs() as logs:
            async with running_engine(db_path, clock) as pe:
                stats = await pe.stats()
        [warning] = [e for e in logs if e["event"] == "pattern_index_rebuilt"]
        assert f"the weights in force are {other.fingerprint}" in warning["reason"]
        assert stats.reference_embedder.endswith(other.fingerprint)
