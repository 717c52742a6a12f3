"""The pattern engine's chunks: add, search, delete, bad input, persistence and rebuilds."""

from __future__ import annotations

import math
import sqlite3
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from structlog.testing import capture_logs

from actorgrid import (
    ChunkInput,
    HashingEmbedder,
    InvalidArgument,
    InvalidQuery,
    PatternSettings,
    Reference,
    RuntimeClosed,
    RuntimeConfig,
)
from actorgrid.actors.patterns import AddChunks, DeleteChunks, resolve_index_path
from actorgrid.kernel import FakeClock
from actorgrid.kernel.testing import wait_until

from ..common import T0
from .support import LOCKED, RUNBOOKS, running_engine

if TYPE_CHECKING:
    from pathlib import Path

    from ..conftest import RuntimeFactory


def rows(db_path: Path) -> list[tuple[Any, ...]]:
    """Every chunk row: id, source, text, metadata (JSON text), embedder, dim."""
    with sqlite3.connect(db_path) as conn:
        return conn.execute(
            "SELECT id, source, text, metadata, embedder, dim FROM reference_chunks ORDER BY id"
        ).fetchall()


RUNBOOK_ROWS = [(source, text) for source, text in RUNBOOKS.items()]


class TestChunks:
    async def test_added_chunks_are_committed_and_found(self, runtimes: RuntimeFactory) -> None:
        """add_chunks returns new ids, commits the rows, and each error finds its runbook."""
        async with runtimes() as rt:
            ids = await rt.add_chunks([(s, t, {"team": "ops"}) for s, t in RUNBOOK_ROWS])
            assert ids == list(range(len(RUNBOOKS)))
            stored = runtimes.query(
                "SELECT id, source, text, metadata, embedder, dim FROM reference_chunks"
            )
            assert [(r[0], r[1], r[2]) for r in stored] == [
                (i, s, t) for i, (s, t) in zip(ids, RUNBOOK_ROWS, strict=True)
            ]
            assert {(r[3], r[4], r[5]) for r in stored} == {
                ('{"team":"ops"}', "hashing-v2-384-3-5", 384)
            }
            queries = {
                "sqlite3.OperationalError: database is locked": "runbooks/sqlite-locked.md",
                "HTTPError: 429 Too Many Requests for url /v1/orders": "runbooks/rate-limit.md",
                "OSError: [Errno 28] No space left on device: '/var/x'": "runbooks/disk-full.md",
                "TimeoutError: upstream request timed out after 30 s": (
                    "runbooks/upstream-timeout.md"
                ),
            }
            for query, source in queries.items():
                [best] = await rt.search_chunks(query, k=1)
                assert isinstance(best, Reference)
                assert best.source == source, query
                assert best.text == RUNBOOKS[source]
                assert best.metadata == {"team": "ops"}
                assert 0.3 < best.similarity <= 1.0

    async def test_k_and_min_similarity(self, runtimes: RuntimeFactory) -> None:
        """k bounds the hits, they come most similar first, and the threshold drops the rest."""
        async with runtimes() as rt:
            await rt.add_chunks(RUNBOOK_ROWS)
            hits = await rt.search_chunks("database is locked", k=10, min_similarity=-1.0)
            assert len(hits) == len(RUNBOOKS)
            sims = [h.similarity for h in hits]
            assert sims == sorted(sims, reverse=True)
            assert len(await rt.search_chunks("database is locked", k=2)) == 2
            floor = sims[1]
            above = await rt.search_chunks("database is locked", k=10, min_similarity=floor)
            assert [h.chunk_id for h in above] == [h.chunk_id for h in hits[:2]]
            assert await rt.search_chunks("database is locked", min_similarity=0.99) == []

    async def test_source_and_metadata_filters(self, runtimes: RuntimeFactory) -> None:
        """A source filter and a metadata filter (every pair must match) narrow the search."""
        async with runtimes() as rt:
            await rt.add_chunks(
                [
                    ("docs/a", "database is locked: use WAL", {"tier": "db", "v": 1}),
                    ("docs/b", "database is locked: shorten transactions", {"tier": "db", "v": 2}),
                    ("runbooks/c", "database is locked: one writer", {"tier": "app"}),
                ]
            )
            by_source = await rt.search_chunks("database is locked", k=5, source="docs/b")
            assert [h.source for h in by_source] == ["docs/b"]
            by_meta = await rt.search_chunks("database is locked", k=5, metadata={"tier": "db"})
            assert sorted(h.source for h in by_meta) == ["docs/a", "docs/b"]
            both = await rt.search_chunks(
                "database is locked", k=5, metadata={"tier": "db", "v": 1}
            )
            assert [h.source for h in both] == ["docs/a"]
            assert await rt.search_chunks("database is locked", metadata={"tier": "x"}) == []

    async def test_delete(self, runtimes: RuntimeFactory) -> None:
        """Deleted chunks leave the table and the search; unknown ids are ignored."""
        async with runtimes() as rt:
            ids = await rt.add_chunks(RUNBOOK_ROWS)
            assert await rt.delete_chunks([ids[0], 999, ids[0]]) == 1
            assert await rt.delete_chunks([ids[0]]) == 0
            hits = await rt.search_chunks(RUNBOOKS["runbooks/sqlite-locked.md"], k=10)
            assert ids[0] not in [h.chunk_id for h in hits]
            assert runtimes.query("SELECT count(*) FROM reference_chunks") == [(len(ids) - 1,)]
            stats = await rt.pattern_statistics()
            assert (stats.chunks, stats.references) == (len(ids) - 1, len(ids) - 1)
            new = await rt.add_chunks([("docs/new", "a fresh chunk of text")])
            assert new[0] > max(ids) - 1
            [hit] = await rt.search_chunks("a fresh chunk of text", k=1)
            assert hit.chunk_id == new[0]

    async def test_memory_only_runtime(self, runtimes: RuntimeFactory) -> None:
        """Without a database the chunks and the index live in memory only."""
        async with runtimes(memory=True) as rt:
            await rt.add_chunks(RUNBOOK_ROWS)
            [hit] = await rt.search_chunks("No space left on device", k=1)
            assert hit.source == "runbooks/disk-full.md"
            assert (await rt.pattern_statistics()).index_path is None
        assert not runtimes.path.exists()
        assert list(runtimes.path.parent.glob("*.hnsw*")) == []

    async def test_disabled_engine_refuses_chunk_calls(self, runtimes: RuntimeFactory) -> None:
        """With pattern.enabled false, chunk calls raise a typed error naming the setting."""
        async with runtimes(pattern=PatternSettings(enabled=False)) as rt:
            with pytest.raises(InvalidArgument, match=r"pattern\.enabled"):
                await rt.add_chunks(RUNBOOK_ROWS)
            with pytest.raises(InvalidArgument, match=r"pattern\.enabled"):
                await rt.search_chunks("x")
        assert not runtimes.path.with_name(runtimes.path.name + ".hnsw").exists()

    async def test_calls_need_a_running_runtime(self, runtimes: RuntimeFactory) -> None:
        """Before start and after stop the chunk calls raise RuntimeClosed."""
        rt = runtimes()
        with pytest.raises(RuntimeClosed):
            await rt.add_chunks(RUNBOOK_ROWS)
        async with rt:
            await rt.add_chunks(RUNBOOK_ROWS)
        with pytest.raises(RuntimeClosed):
            await rt.search_chunks("database is locked")
        with pytest.raises(RuntimeClosed):
            await rt.recurring_patterns()


class TestBadInput:
    @pytest.mark.parametrize(
        "chunks",
        [
            [("docs/a", "")],
            [("docs/a", "   \n")],
            [("", "text")],
            [("x" * 256, "text")],
            [("failure", "reserved source")],
            [("docs/a", "text", ["not", "a", "dict"])],
            [("docs/a", "text", {1: "non-string key"})],
            [("docs/a", "text", {"k": object()})],
            [("docs/a", "text", {"k": math.nan})],
            [("docs/a", 42)],
            [("docs/a",)],
            ["just a string"],
            "not a list",
            [("docs/ok", "a fine chunk"), ("docs/bad", "")],
            [("docs/a", "x" * 100_001)],
        ],
    )
    async def test_bad_chunks_store_nothing(self, runtimes: RuntimeFactory, chunks: Any) -> None:
        """Each bad chunk (alone or in a batch with good ones) raises and stores nothing."""
        async with runtimes() as rt:
            with pytest.raises(InvalidArgument):
                await rt.add_chunks(chunks)
            assert (await rt.pattern_statistics()).chunks == 0
            assert await rt.search_chunks("a fine chunk", k=5, min_similarity=-1) == []
        assert runtimes.query("SELECT count(*) FROM reference_chunks") == [(0,)]

    @pytest.mark.parametrize(
        ("options", "match"),
        [
            ({"query": ""}, "query"),
            ({"query": "  "}, "query"),
            ({"query": 7}, "query"),
            ({"k": 0}, "k must"),
            ({"k": True}, "k must"),
            ({"k": 2.5}, "k must"),
            ({"min_similarity": 1.5}, "min_similarity"),
            ({"min_similarity": -1.01}, "min_similarity"),
            ({"min_similarity": math.nan}, "min_similarity"),
            ({"min_similarity": "0.5"}, "min_similarity"),
            ({"source": ""}, "source"),
            ({"metadata": ["k"]}, "metadata"),
        ],
    )
    async def test_bad_searches_raise(
        self, runtimes: RuntimeFactory, options: dict[str, Any], match: str
    ) -> None:
        """A bad query, k, threshold or filter raises InvalidQuery and changes nothing."""
        async with runtimes() as rt:
            await rt.add_chunks(RUNBOOK_ROWS)
            query = options.pop("query", "database is locked")
            with pytest.raises(InvalidQuery, match=match):
                await rt.search_chunks(query, **options)
            assert (await rt.pattern_statistics()).chunks == len(RUNBOOKS)

    @pytest.mark.parametrize("ids", [[-1], ["3"], [1.5], [True], "12", None])
    async def test_bad_ids_delete_nothing(self, runtimes: RuntimeFactory, ids: Any) -> None:
        """Ids that are not non-negative integers raise and delete nothing."""
        async with runtimes() as rt:
            await rt.add_chunks(RUNBOOK_ROWS)
            with pytest.raises(InvalidArgument):
                await rt.delete_chunks(ids)
            assert (await rt.pattern_statistics()).chunks == len(RUNBOOKS)

    async def test_bad_messages_to_the_actor(self, db_path: Path) -> None:
        """The actor validates what it is sent directly, too, and changes nothing."""
        async with running_engine(db_path, FakeClock(T0)) as pe:
            with pytest.raises(InvalidArgument):
                await pe.ask(AddChunks((ChunkInput("docs/a", "ok"), ChunkInput("failure", "x"))))
            with pytest.raises(InvalidArgument):
                await pe.ask(DeleteChunks((-4,)))
            with pytest.raises(InvalidQuery):
                await pe.search("x", k=0)
            assert (await pe.stats()).chunks == 0
            assert pe.query("SELECT count(*) FROM reference_chunks") == [(0,)]


class TestSettings:
    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("glimpse_k", 0),
            ("revise_k", -1),
            ("glimpse_k", True),
            ("glimpse_min_similarity", 1.01),
            ("revise_min_similarity", -2),
            ("recurring_min_similarity", math.nan),
            ("ef", 0),
            ("M", 1),
            ("save_interval", 0),
            ("failure_flush_interval", math.inf),
            ("max_failures", 0),
            ("compact_fraction", 1.5),
            ("embedder", "word2vec"),
            ("embedder", "sentence-transformers:"),
            ("index_path", " "),
        ],
    )
    def test_bad_values_raise_typed_errors(self, field: str, value: Any) -> None:
        """An out-of-range setting raises InvalidArgument naming pattern.<field>."""
        with pytest.raises(InvalidArgument, match=rf"pattern\.{field}"):
            PatternSettings(**{field: value})

    def test_decoding_names_the_field(self) -> None:
        """Decoding a config with a bad [pattern] value reports the field and the problem."""
        with pytest.raises(msgspec.ValidationError, match=r"pattern\.revise_min_similarity"):
            msgspec.convert({"pattern": {"revise_min_similarity": 3}}, RuntimeConfig)
        config = msgspec.convert({"pattern": {"glimpse_min_similarity": 0.3}}, RuntimeConfig)
        assert config.pattern.glimpse_min_similarity == 0.3
        assert (config.pattern.glimpse_k, config.pattern.revise_k) == (1, 3)
        assert (config.pattern.revise_min_similarity, config.pattern.enabled) == (None, True)

    def test_index_path_beside_the_database(self, tmp_path: Path) -> None:
        """The index goes beside a SQLite file; memory databases keep it in memory."""
        settings = PatternSettings()
        db = tmp_path / "data" / "app.db"
        assert resolve_index_path(settings, f"sqlite+aiosqlite:///{db}") == db.with_name(
            "app.db.hnsw"
        )
        assert resolve_index_path(settings, None) is None
        assert resolve_index_path(settings, "sqlite+aiosqlite://") is None
        assert resolve_index_path(settings, "sqlite+aiosqlite:///:memory:") is None
        assert resolve_index_path(settings, "postgresql+asyncpg://u@h/db") is None
        custom = PatternSettings(index_path=str(tmp_path / "idx.bin"))
        assert resolve_index_path(custom, "postgresql+asyncpg://u@h/db") == tmp_path / "idx.bin"
        assert resolve_index_path(custom, None) is None


class TestPersistence:
    async def test_chunks_survive_a_restart_without_a_rebuild(
        self, runtimes: RuntimeFactory
    ) -> None:
        """The index is saved on stop and loaded at the next start, no rebuild, no warning."""
        async with runtimes() as rt:
            ids = await rt.add_chunks(RUNBOOK_ROWS)
            before = await rt.search_chunks("database is locked", k=3)
        index_file = runtimes.path.with_name(runtimes.path.name + ".hnsw")
        assert index_file.exists()
        with capture_logs() as logs:
            async with runtimes() as rt:
                stats = await rt.pattern_statistics()
                assert (stats.chunks, stats.rebuilds) == (len(ids), 0)
                assert await rt.search_chunks("database is locked", k=3) == before
        assert [e for e in logs if e["log_level"] == "warning"] == []

    @pytest.mark.parametrize("damage", ["delete", "garble", "truncate_sidecar"])
    async def test_rebuilt_from_the_table_when_the_file_is_unusable(
        self, runtimes: RuntimeFactory, damage: str
    ) -> None:
        """A missing or corrupt index file is rebuilt from the table, with a warning why."""
        async with runtimes() as rt:
            await rt.add_chunks(RUNBOOK_ROWS)
            before = await rt.search_chunks("database is locked", k=3)
        index_file = runtimes.path.with_name(runtimes.path.name + ".hnsw")
        sidecar = index_file.with_name(index_file.name + ".meta.json")
        if damage == "delete":
            index_file.unlink()
        elif damage == "garble":
            data = bytearray(index_file.read_bytes())
            data[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
            index_file.write_bytes(bytes(data))
        else:
            sidecar.write_bytes(sidecar.read_bytes()[:10])
        with capture_logs() as logs:
            async with runtimes() as rt:
                stats = await rt.pattern_statistics()
                assert await rt.search_chunks("database is locked", k=3) == before
        [warning] = [e for e in logs if e["event"] == "pattern_index_rebuilt"]
        assert warning["log_level"] == "warning"
        assert warning["chunks"] == len(RUNBOOKS)
        expected = {"delete": "missing", "garble": "checksum", "truncate_sidecar": "sidecar"}
        assert expected[damage] in warning["reason"]
        assert warning["index"] == "references"
        assert (stats.rebuilds, stats.chunks) == (1, len(RUNBOOKS))
        assert stats.rebuild_reason == f"references: {warning['reason']}"
        async with runtimes() as rt:  # the rebuilt index was saved
            assert (await rt.pattern_statistics()).rebuilds == 0

    async def test_rebuilt_when_the_embedder_changes(self, runtimes: RuntimeFactory) -> None:
        """An index of another embedder (here another dimension) is rebuilt, rows retagged."""
        async with runtimes() as rt:
            await rt.add_chunks(RUNBOOK_ROWS)
        other = PatternSettings(embedder_dim=256)
        with capture_logs() as logs:
            async with runtimes(pattern=other) as rt:
                stats = await rt.pattern_statistics()
                [hit] = await rt.search_chunks("No space left on device", k=1)
        [warning] = [e for e in logs if e["event"] == "pattern_index_rebuilt"]
        assert "embedder" in warning["reason"]
        assert "hashing-v2-256-3-5" in warning["reason"]
        assert (stats.dim, stats.embedder) == (256, "hashing-v2-256-3-5")
        assert hit.source == "runbooks/disk-full.md"
        assert set(runtimes.query("SELECT embedder, dim FROM reference_chunks")) == {
            ("hashing-v2-256-3-5", 256)
        }

    async def test_reconciled_with_rows_changed_after_the_last_save(self, db_path: Path) -> None:
        """Rows committed or deleted after the last save are added to or removed from the
        loaded index (what a crash between saves leaves behind)."""
        clock = FakeClock(T0)
        async with running_engine(db_path, clock) as pe:
            ids = await pe.add_runbooks()
        with sqlite3.connect(db_path) as conn:
            conn.execute("DELETE FROM reference_chunks WHERE id = ?", (ids[0],))
            conn.execute(
                "INSERT INTO reference_chunks (id, source, text, metadata, embedder, dim,"
                " created_at) VALUES (?, 'docs/late', ?, '{}', 'hashing-v2-384-3-5', 384, ?)",
                (100, "certificate verify failed: certificate has expired", T0),
            )
        with capture_logs() as logs:
            async with running_engine(db_path, clock) as pe:
                [hit] = await pe.search("certificate has expired", k=1)
                hits = await pe.search(RUNBOOKS["runbooks/sqlite-locked.md"], k=10)
                stats = await pe.stats()
                new = await pe.ask(AddChunks((ChunkInput("docs/next", "next chunk"),)))
        [event] = [e for e in logs if e["event"] == "pattern_index_reconciled"]
        assert (event["added"], event["removed"]) == (1, 1)
        assert hit.chunk_id == 100
        assert ids[0] not in [h.chunk_id for h in hits]
        assert (stats.chunks, stats.rebuilds) == (len(ids), 0)
        assert new == (101,)

    async def test_saved_periodically(self, db_path: Path) -> None:
        """A changed index is saved every save_interval seconds, not only on stop."""
        clock = FakeClock(T0)
        index_file = db_path.with_name(db_path.name + ".hnsw")
        async with running_engine(db_path, clock, PatternSettings(save_interval=60)) as pe:
            await pe.add_runbooks()
            assert not index_file.exists()
            clock.advance(60)
            await wait_until(lambda: index_file.exists())
            await wait_until(lambda: index_file.with_name("actorgrid.db.hnsw.meta.json").exists())
            assert (await pe.stats()).saves == 1
            clock.advance(60)  # nothing changed: no new save
            assert (await pe.stats()).saves == 1

    async def test_an_embedder_can_be_given(self, db_path: Path) -> None:
        """An embedder passed to the actor replaces the one the settings name."""
        async with running_engine(db_path, FakeClock(T0), embedder=HashingEmbedder(dim=64)) as pe:
            await pe.add_runbooks()
            assert (await pe.stats()).dim == 64
            [hit] = await pe.search(LOCKED.format(10001), k=1)
            assert hit.source == "runbooks/sqlite-locked.md"
        assert {r[4:] for r in rows(db_path)} == {("hashing-v2-64-3-5", 64)}
