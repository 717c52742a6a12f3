"""The vector index: add, search, delete, replace, capacity, compaction and persistence."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import hnswlib
import numpy as np
import numpy.typing as npt
import pytest

from actorgrid import IndexCorrupt, IndexMismatch, InvalidQuery, InvalidVectors
from actorgrid.actors.patterns.index import VectorIndex
from actorgrid.actors.patterns.index import _store as _index_store
from actorgrid.actors.patterns.index._exact_search import (
    blas_single_threaded,
    blocked_similarities,
    similarities,
)
from actorgrid.actors.patterns.index._store import _stored_vectors

if TYPE_CHECKING:
    from pathlib import Path

DIM = 16
EMBEDDER = "test-embedder-16"
Matrix = npt.NDArray[np.float32]


def vectors(n: int, seed: int = 0) -> Matrix:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def unit(v: Matrix) -> Matrix:
    out: Matrix = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return out


@pytest.fixture(name="mode", params=["exact", "hnsw"])
def _mode(request: pytest.FixtureRequest) -> str:
    mode: str = request.param
    return mode


def make_index(mode: str = "hnsw", **kwargs: Any) -> VectorIndex:
    """An index that always answers exactly ("exact") or always through hnswlib ("hnsw")."""
    kwargs.setdefault("initial_capacity", 8)
    return VectorIndex(
        DIM,
        exact_threshold=10**9 if mode == "exact" else 0,
        embedder_name=EMBEDDER,
        num_threads=1,
        **kwargs,
    )


def reload(path: Path, mode: str, ef: int = 32) -> VectorIndex:
    """Load the index saved at ``path`` to answer like ``make_index(mode)``."""
    return VectorIndex.load(
        path,
        embedder_name=EMBEDDER,
        dim=DIM,
        ef=ef,
        exact_threshold=10**9 if mode == "exact" else 0,
    )


def snapshot(index: VectorIndex, probe: Matrix) -> tuple[Any, ...]:
    """Everything observable about an index, to check that a failed call changed nothing."""
    return (
        len(index),
        sorted(index.ids()),
        index.stats(),
        [index.search(p, k=5) for p in probe],
    )


class TestAddAndSearch:
    """Adding items and finding them again."""

    def test_each_item_finds_itself(self, mode: str) -> None:
        """Every stored vector is its own top hit with similarity 1."""
        index = make_index(mode)
        data = vectors(50)
        index.add(range(100, 150), data)
        assert len(index) == 50
        for i, v in enumerate(data):
            top = index.search(v, k=1)[0]
            assert top.id == 100 + i
            assert top.similarity == pytest.approx(1.0, abs=1e-5)

    def test_hits_sorted_and_limited_to_k(self, mode: str) -> None:
        """Hits come most similar first and number at most k."""
        index = make_index(mode)
        index.add(range(30), vectors(30))
        hits = index.search(vectors(1, seed=9)[0], k=7)
        assert len(hits) == 7
        sims = [h.similarity for h in hits]
        assert sims == sorted(sims, reverse=True)
        assert len({h.id for h in hits}) == 7

    def test_similarity_is_cosine(self, mode: str) -> None:
        """Reported similarity equals the cosine of query and stored vector."""
        index = make_index(mode)
        data = vectors(10)
        index.add(range(10), data)
        query = vectors(1, seed=3)[0]
        for hit in index.search(query, k=10):
            expected = float(unit(query) @ unit(data[hit.id]))
            assert hit.similarity == pytest.approx(expected, abs=1e-5)

    def test_min_similarity_drops_weak_hits(self, mode: str) -> None:
        """Hits below min_similarity are left out."""
        index = make_index(mode)
        index.add(range(40), vectors(40))
        hits = index.search(vectors(1, seed=4)[0], k=40, min_similarity=0.2)
        assert all(h.similarity >= 0.2 for h in hits)
        everything = index.search(vectors(1, seed=4)[0], k=40)
        assert len(hits) == sum(1 for h in everything if h.similarity >= 0.2)

    def test_k_larger_than_corpus(self, mode: str) -> None:
        """Asking for more hits than items returns every item."""
        index = make_index(mode)
        index.add([1, 2, 3], vectors(3))
        assert {h.id for h in index.search(vectors(1, seed=5)[0], k=10)} == {1, 2, 3}

    def test_empty_index_returns_nothing(self, mode: str) -> None:
        """Searching an empty index returns no hits."""
        assert make_index(mode).search(vectors(1)[0]) == []

    def test_row_vector_query_accepted(self, mode: str) -> None:
        """A (1, dim) query works like a (dim,) one."""
        index = make_index(mode)
        data = vectors(5)
        index.add(range(5), data)
        assert index.search(data[2:3], k=1)[0].id == 2

    def test_empty_batch_is_a_no_op(self, mode: str) -> None:
        """Adding zero items changes nothing."""
        index = make_index(mode)
        index.add([], np.zeros((0, DIM), np.float32))
        assert len(index) == 0


class TestReplaceAndDelete:
    """Re-adding an id replaces it; deleting removes it."""

    def test_readding_an_id_replaces_its_vector(self, mode: str) -> None:
        """The id now matches its new vector, and the count stays the same."""
        index = make_index(mode)
        data = vectors(20)
        index.add(range(20), data)
        new = vectors(1, seed=99)
        index.add([7], new)
        assert len(index) == 20
        (top,) = index.search(new[0], k=1)
        assert top.id == 7
        assert top.similarity == pytest.approx(1.0, abs=1e-5)
        assert index.search(data[7], k=1)[0].id != 7

    def test_deleted_items_are_not_returned(self, mode: str) -> None:
        """A deleted id never comes back from search."""
        index = make_index(mode)
        data = vectors(30)
        index.add(range(30), data)
        assert index.delete([3, 4, 5]) == 3
        assert len(index) == 27
        assert 4 not in index
        for i in (3, 4, 5):
            assert all(h.id not in (3, 4, 5) for h in index.search(data[i], k=10))

    def test_deleting_unknown_ids_is_ignored(self, mode: str) -> None:
        """Ids that are not live are skipped and not counted."""
        index = make_index(mode)
        index.add([1, 2], vectors(2))
        assert index.delete([2, 2000]) == 1
        assert index.delete([2]) == 0
        assert index.ids() == [1]

    def test_deleted_id_can_come_back(self, mode: str) -> None:
        """A deleted id re-added is found again, once."""
        index = make_index(mode)
        index.add(range(10), vectors(10))
        index.delete([4])
        new = vectors(1, seed=7)
        index.add([4], new)
        hits = index.search(new[0], k=10)
        assert hits[0].id == 4
        assert [h.id for h in hits].count(4) == 1
        assert index.stats().slots == 10

    def test_id_whose_slot_was_reused_comes_back_once(self, mode: str) -> None:
        """After another id took a deleted id's slot, re-adding it creates one live copy."""
        index = make_index(mode)
        index.add(range(5), vectors(5))
        index.delete([2])
        index.add([50], vectors(1, seed=1))
        again = vectors(1, seed=2)
        index.add([2], again)
        index.delete([50])
        hits = index.search(again[0], k=10)
        assert [h.id for h in hits].count(2) == 1
        assert sorted(index.ids()) == [0, 1, 2, 3, 4]
        assert sorted(h.id for h in hits) == [0, 1, 2, 3, 4]


class TestCapacity:
    """Capacity grows on demand and deleted slots are reused."""

    def test_grows_past_initial_capacity(self) -> None:
        """Adding more than the initial capacity resizes, and everything stays findable."""
        index = make_index("hnsw", initial_capacity=4)
        data = vectors(100)
        for start in range(0, 100, 10):
            index.add(range(start, start + 10), data[start : start + 10])
        assert index.stats().capacity >= 100
        assert all(index.search(data[i], k=1)[0].id == i for i in range(100))

    def test_deleted_slots_are_reused(self) -> None:
        """Churn (delete some, add as many new) does not grow the graph."""
        index = make_index("hnsw", initial_capacity=64)
        index.add(range(50), vectors(50))
        next_id = 50
        for round_ in range(10):
            live = sorted(index.ids())
            index.delete(live[:20])
            index.add(range(next_id, next_id + 20), vectors(20, seed=round_ + 1))
            next_id += 20
        stats = index.stats()
        assert stats.live == 50
        assert stats.slots == 50
        assert stats.capacity == 64

    def test_compact_drops_deleted_slots(self, mode: str) -> None:
        """compact rebuilds when enough slots are deleted and keeps every live item."""
        index = make_index(mode)
        data = vectors(40)
        index.add(range(40), data)
        assert index.compact() is False
        index.delete(range(0, 40, 2))
        assert index.deleted_fraction() == pytest.approx(0.5)
        assert index.compact(min_deleted_fraction=0.6) is False
        assert index.compact() is True
        assert index.stats().slots == 20
        assert all(index.search(data[i], k=1)[0].id == i for i in range(1, 40, 2))


class TestChurn:
    """Random adds, replacements and deletes keep the index equal to a plain dict."""

    @pytest.mark.parametrize("seed", range(4))
    def test_random_churn_matches_a_model(self, mode: str, seed: int) -> None:
        """After every step the live ids, and every id returned by search, match the model."""
        rng = np.random.default_rng(seed)
        index = make_index(mode, initial_capacity=4)
        model: dict[int, Matrix] = {}
        for _ in range(120):
            ids = [int(i) for i in rng.choice(30, size=int(rng.integers(1, 5)), replace=False)]
            if rng.random() < 0.5:
                data = rng.standard_normal((len(ids), DIM)).astype(np.float32)
                index.add(ids, data)
                model.update(zip(ids, data, strict=True))
            else:
                index.delete(ids)
                for i in ids:
                    model.pop(i, None)
            assert sorted(index.ids()) == sorted(model)
            for label in list(model)[:3]:
                vec = model[label]
                hits = index.search(vec, k=len(model))
                assert sorted(h.id for h in hits) == sorted(model)
                assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)
                assert label in {h.id for h in hits if h.similarity > 0.9999}
            assert index.stats().slots <= 30


class TestFilter:
    """A filter restricts which ids can be returned."""

    def test_only_allowed_ids(self, mode: str) -> None:
        """Every hit passes the filter."""
        index = make_index(mode)
        index.add(range(60), vectors(60))
        hits = index.search(vectors(1, seed=8)[0], k=5, filter=lambda i: i % 3 == 0)
        assert len(hits) == 5
        assert all(h.id % 3 == 0 for h in hits)

    def test_very_selective_filter(self, mode: str) -> None:
        """When fewer than k ids qualify, exactly those are returned."""
        index = make_index(mode)
        index.add(range(60), vectors(60))
        hits = index.search(vectors(1, seed=8)[0], k=3, filter=lambda i: i == 17)
        assert [h.id for h in hits] == [17]

    def test_filter_that_rejects_the_best_rows(self, mode: str) -> None:
        """When the filter rejects every well-ranked row, the admitted far rows still come."""
        index = make_index(mode)
        data = vectors(300)
        index.add(range(300), data)
        query = vectors(1, seed=9)[0]
        sims = unit(data) @ unit(query)
        worst = [int(i) for i in np.argsort(sims)[:3]]
        hits = index.search(query, k=3, filter=worst.__contains__)
        assert sorted(h.id for h in hits) == sorted(worst)
        assert [h.similarity for h in hits] == sorted((h.similarity for h in hits), reverse=True)


class TestExactAgreesWithHnsw:
    """Both search paths give the same answer on small data."""

    def test_same_top_hit(self) -> None:
        """For 50 random queries over 300 items, the top hit is the same."""
        data = vectors(300)
        exact, approx = make_index("exact"), make_index("hnsw")
        for index in (exact, approx):
            index.add(range(300), data)
        queries = vectors(50, seed=11)
        for q in queries:
            assert exact.search(q, k=1)[0].id == approx.search(q, k=1)[0].id

    def test_threshold_switches_path(self) -> None:
        """An index below its threshold answers exactly; the answers match hnswlib's."""
        data = vectors(100)
        index = VectorIndex(DIM, exact_threshold=1000, num_threads=1)
        index.add(range(100), data)
        exact_hits = index.search(data[0], k=5)
        index.exact_threshold = 0
        assert [h.id for h in index.search(data[0], k=5)] == [h.id for h in exact_hits]


class TestExactSearch:
    """Exact search over more rows than one matrix-vector block."""

    def test_blocked_product_equals_plain_product(self) -> None:
        """Similarities computed in row blocks equal the one-shot product, and the exact
        path's (plain or blocked, as BLAS's threads decide) equals both."""
        data = unit(vectors(2500))
        query = unit(vectors(1, seed=2)[0])
        plain = data @ query
        np.testing.assert_allclose(blocked_similarities(data, query), plain, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(similarities(data, query), plain, rtol=1e-5, atol=1e-6)

    def test_blas_threads_are_read_from_the_loaded_library(self) -> None:
        """The choice between the plain and the blocked product follows what threadpoolctl
        reports of the BLAS numpy loaded."""
        import threadpoolctl

        blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
        expected = bool(blas) and all(i["num_threads"] == 1 for i in blas)
        assert blas_single_threaded() is expected

    def test_exact_path_over_several_blocks(self) -> None:
        """An exact-path index of 2,500 items finds each probed item as its own top hit."""
        data = vectors(2500)
        index = make_index("exact")
        index.add(range(2500), data)
        for i in (0, 1023, 1024, 2047, 2499):
            assert index.search(data[i], k=1)[0].id == i


class TestBadInput:
    """Bad input raises a typed error and leaves the index unchanged."""

    @pytest.mark.parametrize(
        ("ids", "data"),
        [
            ([1, 2], np.full((2, DIM), np.nan, np.float32)),
            ([1, 2], np.full((2, DIM), np.inf, np.float32)),
            ([1, 2], np.ones((2, DIM + 1), np.float32)),
            ([1, 2], np.ones(DIM, np.float32)),
            ([1, 2], np.zeros((2, DIM), np.float32)),
            ([1, 2, 3], np.ones((2, DIM), np.float32)),
            ([-1, 2], np.ones((2, DIM), np.float32)),
            ([1, 1], np.ones((2, DIM), np.float32)),
            ([True, 2], np.ones((2, DIM), np.float32)),
            ([1.5, 2], np.ones((2, DIM), np.float32)),
            ([2**64, 2], np.ones((2, DIM), np.float32)),
            ("12", np.ones((2, DIM), np.float32)),
            ([1, 2], [["a"] * DIM] * 2),
            ([0, 2], np.full((2, DIM), 1e39)),
        ],
        ids=[
            "nan",
            "inf",
            "wrong-dim",
            "one-dimensional",
            "zero-vector",
            "count-mismatch",
            "negative-id",
            "duplicate-id",
            "bool-id",
            "float-id",
            "huge-id",
            "string-ids",
            "non-numeric",
            "overflow",
        ],
    )
    def test_bad_add(self, mode: str, ids: Any, data: Any) -> None:
        """add rejects the batch as a whole."""
        index = make_index(mode)
        index.add([0, 5], vectors(2))
        probe = vectors(3, seed=5)
        before = snapshot(index, probe)
        with pytest.raises(InvalidVectors):
            index.add(ids, data)
        assert snapshot(index, probe) == before

    @pytest.mark.parametrize("ids", [[-1], [True], ["a"], [3, 3]], ids=str)
    def test_bad_delete(self, mode: str, ids: Any) -> None:
        """delete rejects bad ids before deleting anything."""
        index = make_index(mode)
        index.add([3, 4], vectors(2))
        probe = vectors(2, seed=5)
        before = snapshot(index, probe)
        with pytest.raises(InvalidVectors):
            index.delete(ids)
        assert snapshot(index, probe) == before

    @pytest.mark.parametrize(
        ("vector", "kwargs"),
        [
            (np.full(DIM, np.nan), {}),
            (np.full(DIM, 1e39), {}),
            (np.ones(DIM + 1), {}),
            (np.zeros(DIM), {}),
            (["x"] * DIM, {}),
            (np.ones(DIM), {"k": 0}),
            (np.ones(DIM), {"k": -3}),
            (np.ones(DIM), {"k": 1.5}),
            (np.ones(DIM), {"k": True}),
            (np.ones(DIM), {"min_similarity": 1.01}),
            (np.ones(DIM), {"min_similarity": -1.5}),
            (np.ones(DIM), {"min_similarity": float("nan")}),
            (np.ones(DIM), {"min_similarity": "0.5"}),
        ],
        ids=[
            "nan",
            "overflow",
            "wrong-dim",
            "zero",
            "non-numeric",
            "k0",
            "k-negative",
            "k-float",
            "k-bool",
            "min-above-1",
            "min-below-minus-1",
            "min-nan",
            "min-str",
        ],
    )
    def test_bad_query(self, mode: str, vector: Any, kwargs: dict[str, Any]) -> None:
        """search rejects bad queries with InvalidQuery."""
        index = make_index(mode)
        index.add([1, 2], vectors(2))
        probe = vectors(2, seed=5)
        before = snapshot(index, probe)
        with pytest.raises(InvalidQuery):
            index.search(vector, **kwargs)
        assert snapshot(index, probe) == before

    @pytest.mark.parametrize("scale", [1e30, 1e-30])
    def test_extreme_but_finite_query_is_normalised(self, mode: str, scale: float) -> None:
        """A float32 query whose squared norm over- or underflows float32 still finds its item."""
        index = make_index(mode)
        data = vectors(4)
        index.add(range(4), data)
        hits = index.search((data[2] * np.float32(scale)).astype(np.float32), k=1)
        assert [h.id for h in hits] == [2]
        assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)

    def test_threshold_bounds_are_inclusive(self, mode: str) -> None:
        """min_similarity of exactly -1 and 1 are valid."""
        index = make_index(mode)
        data = vectors(3)
        index.add(range(3), data)
        assert len(index.search(data[0], k=3, min_similarity=-1.0)) == 3
        assert [h.id for h in index.search(data[0], k=3, min_similarity=1.0)] in ([], [0])

    @pytest.mark.parametrize("ef", [0, -1, True, 2.5])
    def test_bad_ef(self, ef: Any) -> None:
        """set_ef rejects values below 1 and non-integers."""
        with pytest.raises(ValueError):  # noqa: PT011
            make_index().set_ef(ef)


class TestPersistence:
    """save writes the graph and a sidecar atomically; load checks both."""

    def saved(self, tmp_path: Path, n: int = 40) -> tuple[Path, VectorIndex, Matrix]:
        index = make_index("hnsw")
        data = vectors(n)
        index.add(range(1000, 1000 + n), data)
        path = tmp_path / "chunks.hnsw"
        index.save(path)
        return path, index, data

    def test_reload_answers_the_same(self, tmp_path: Path, mode: str) -> None:
        """A loaded index holds the same ids and gives the same hits."""
        path, index, _ = self.saved(tmp_path)
        index.delete([1003])
        index.save(path)
        loaded = reload(path, mode)
        assert sorted(loaded.ids()) == sorted(index.ids())
        for q in vectors(10, seed=21):
            assert [h.id for h in loaded.search(q, k=5)] == [h.id for h in index.search(q, k=5)]
        assert loaded.embedder_name == EMBEDDER

    def test_ef_is_applied_after_load(self, tmp_path: Path) -> None:
        """hnswlib does not save ef; load sets it from its argument."""
        path, _, _ = self.saved(tmp_path)
        loaded = VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=77)
        assert loaded.stats().ef == 77

    def test_loaded_index_keeps_working(self, tmp_path: Path) -> None:
        """After load, deleted slots are reused, a deleted id comes back once, adds grow it."""
        path, index, _ = self.saved(tmp_path, n=8)
        index.delete([1002, 1005])
        index.save(path)
        loaded = VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=16)
        back = vectors(1, seed=30)
        loaded.add([1002], back)
        loaded.add([7], vectors(1, seed=31))
        assert loaded.stats().slots == 8
        assert [h.id for h in loaded.search(back[0], k=20)].count(1002) == 1
        loaded.add(range(2000, 2050), vectors(50, seed=32))
        assert len(loaded) == 58
        assert sorted(h.id for h in loaded.search(back[0], k=100, filter=lambda i: i < 2000)) == [
            7,
            1000,
            1001,
            1002,
            1003,
            1004,
            1006,
            1007,
        ]

    def test_empty_index_round_trips(self, tmp_path: Path) -> None:
        """An empty index saves and loads."""
        path = tmp_path / "empty.hnsw"
        make_index().save(path)
        loaded = VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=10)
        assert len(loaded) == 0
        loaded.add([1], vectors(1))
        assert loaded.search(vectors(1)[0], k=1)[0].id == 1

    def test_no_temporary_files_left(self, tmp_path: Path) -> None:
        """Only the graph and its sidecar remain after saving (twice)."""
        path, index, _ = self.saved(tmp_path)
        index.save(path)
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "chunks.hnsw",
            "chunks.hnsw.meta.json",
        ]

    def test_other_embedder_is_a_mismatch(self, tmp_path: Path) -> None:
        """An index built by another embedder raises IndexMismatch naming it."""
        path, _, _ = self.saved(tmp_path)
        with pytest.raises(IndexMismatch, match="test-embedder-16") as info:
            VectorIndex.load(path, embedder_name="hashing-v1-384-3-5", dim=DIM, ef=10)
        assert info.value.field == "embedder"

    def test_other_dimension_is_a_mismatch(self, tmp_path: Path) -> None:
        """An index of another dimension raises IndexMismatch."""
        path, _, _ = self.saved(tmp_path)
        with pytest.raises(IndexMismatch) as info:
            VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM * 2, ef=10)
        assert info.value.field == "dimension"

    def test_other_format_version_is_a_mismatch(self, tmp_path: Path) -> None:
        """A sidecar of another format version is not read."""
        path, _, _ = self.saved(tmp_path)
        meta = path.with_name(path.name + ".meta.json")
        doc = json.loads(meta.read_text())
        doc["format"] = 99
        meta.write_text(json.dumps(doc))
        with pytest.raises(IndexMismatch):
            VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=10)

    @pytest.mark.parametrize("missing", ["chunks.hnsw", "chunks.hnsw.meta.json"])
    def test_missing_file_is_corrupt(self, tmp_path: Path, missing: str) -> None:
        """A missing graph or sidecar raises IndexCorrupt."""
        path, _, _ = self.saved(tmp_path)
        (tmp_path / missing).unlink()
        with pytest.raises(IndexCorrupt):
            VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=10)

    def test_flipped_byte_is_corrupt(self, tmp_path: Path) -> None:
        """One changed byte in the graph fails the checksum."""
        path, _, _ = self.saved(tmp_path)
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        path.write_bytes(bytes(raw))
        with pytest.raises(IndexCorrupt, match="checksum"):
            VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=10)

    def test_truncated_graph_is_corrupt(self, tmp_path: Path) -> None:
        """A truncated graph file raises IndexCorrupt."""
        path, _, _ = self.saved(tmp_path)
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(IndexCorrupt):
            VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=10)

    @pytest.mark.parametrize(
        "content",
        [b"", b"{not json", b"[]", b'{"format": 1}', b'{"format": 1, "embedder": 3}'],
        ids=["empty", "garbled", "list", "incomplete", "wrong-type"],
    )
    def test_garbled_sidecar_is_corrupt(self, tmp_path: Path, content: bytes) -> None:
        """A sidecar that is not the expected JSON raises IndexCorrupt."""
        path, _, _ = self.saved(tmp_path)
        path.with_name(path.name + ".meta.json").write_bytes(content)
        with pytest.raises(IndexCorrupt):
            VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=10)

    def test_crash_between_renames_is_detected(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If saving stops after the graph is replaced, load reports IndexCorrupt."""
        path, index, _ = self.saved(tmp_path)
        index.add([1], vectors(1, seed=3))
        real_replace = os.replace
        calls: list[str] = []

        def replace_then_crash(src: Any, dst: Any) -> None:
            calls.append(str(dst))
            if len(calls) == 2:
                raise OSError("simulated crash")
            real_replace(src, dst)

        monkeypatch.setattr(os, "replace", replace_then_crash)
        with pytest.raises(OSError, match="simulated crash"):
            index.save(path)
        monkeypatch.undo()
        with pytest.raises(IndexCorrupt, match="checksum"):
            VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=10)
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "chunks.hnsw",
            "chunks.hnsw.meta.json",
        ]


def copies(n: int, seed: int = 40) -> Matrix:
    """``n`` rows of one vector."""
    return np.repeat(vectors(1, seed=seed), n, axis=0)


class TestDuplicates:
    """Identical vectors enter the graph once; every copy is still found."""

    def test_copies_enter_the_graph_once(self) -> None:
        """Ten copies and five distinct vectors take six graph slots."""
        index = make_index("hnsw")
        index.add(range(10), copies(10))
        index.add(range(10, 15), vectors(5))
        stats = index.stats()
        assert (stats.live, stats.slots, stats.duplicates) == (15, 6, 9)

    def test_every_copy_is_returned_at_the_same_similarity(self, mode: str) -> None:
        """A search for the shared vector returns all copies first, representative first."""
        index = make_index(mode)
        index.add(range(10, 40), vectors(30))
        index.add([5, 3, 8, 1], copies(4))
        hits = index.search(copies(1)[0], k=6)
        assert sorted(h.id for h in hits[:4]) == [1, 3, 5, 8]
        assert all(h.similarity == pytest.approx(1.0, abs=1e-5) for h in hits[:4])
        assert all(h.id >= 10 for h in hits[4:])
        assert len(hits) == 6

    def test_copies_within_one_batch_and_across_batches(self) -> None:
        """Copies in the same call and in later calls join one group."""
        index = make_index("hnsw")
        index.add([1, 2], copies(2))
        index.add([3], copies(1))
        assert index.stats().duplicates == 2
        assert sorted(h.id for h in index.search(copies(1)[0], k=3)) == [1, 2, 3]

    def test_deleting_the_representative_promotes_a_copy(self) -> None:
        """After the first copy is deleted the others are still in the graph and found."""
        index = make_index("hnsw")
        index.add(range(20, 50), vectors(30))
        index.add([1, 2, 3], copies(3))
        assert index.delete([1]) == 1
        assert sorted(h.id for h in index.search(copies(1)[0], k=2)) == [2, 3]
        assert index.stats().duplicates == 1
        index.delete([3])
        assert [h.id for h in index.search(copies(1)[0], k=1)] == [2]
        assert index.stats().duplicates == 0
        index.delete([2])
        assert all(h.similarity < 0.999 for h in index.search(copies(1)[0], k=5))

    def test_deleting_a_copy_leaves_the_graph_alone(self) -> None:
        """A deleted alias frees no graph slot; its group still answers."""
        index = make_index("hnsw")
        index.add([1, 2, 3], copies(3))
        index.delete([2])
        assert index.stats().slots == 1
        assert index.deleted_fraction() == 0.0
        assert sorted(h.id for h in index.search(copies(1)[0], k=5)) == [1, 3]

    def test_replacing_a_representative_keeps_its_copies(self, mode: str) -> None:
        """Re-adding the representative with another vector moves it; the copies stay."""
        index = make_index(mode)
        index.add([1, 2, 3], copies(3))
        other = vectors(1, seed=41)
        index.add([1], other)
        assert sorted(h.id for h in index.search(copies(1)[0], k=2)) == [2, 3]
        assert index.search(other[0], k=1)[0].id == 1
        assert len(index) == 3

    def test_filter_applies_to_every_copy(self, mode: str) -> None:
        """A filter that admits only one alias returns that alias, not the representative."""
        index = make_index(mode)
        index.add(range(10, 40), vectors(30))
        index.add([1, 2, 3], copies(3))
        hits = index.search(copies(1)[0], k=1, filter=lambda i: i == 3)
        assert [h.id for h in hits] == [3]

    def test_compaction_keeps_copies(self) -> None:
        """Compacting rebuilds the graph from representatives; copies stay searchable."""
        index = make_index("hnsw")
        index.add(range(10, 40), vectors(30))
        index.add([1, 2, 3], copies(3))
        index.delete(list(range(10, 30)))
        assert index.compact(min_deleted_fraction=0.0)
        assert index.stats().slots == 11
        assert sorted(h.id for h in index.search(copies(1)[0], k=3)) == [1, 2, 3]

    def test_copies_survive_save_and_load(self, tmp_path: Path, mode: str) -> None:
        """A loaded index keeps the groups: same answers, and new copies join them."""
        index = make_index("hnsw")
        index.add(range(10, 30), vectors(20))
        index.add([1, 2, 3], copies(3))
        path = tmp_path / "dups.hnsw"
        index.save(path)
        loaded = reload(path, mode)
        assert loaded.stats().duplicates == 2
        assert sorted(h.id for h in loaded.search(copies(1)[0], k=3)) == [1, 2, 3]
        loaded.add([4], copies(1))
        loaded.delete([1])
        assert loaded.stats().slots == index.stats().slots
        assert sorted(h.id for h in loaded.search(copies(1)[0], k=3)) == [2, 3, 4]

    def test_sidecar_of_format_one_still_loads(self, tmp_path: Path) -> None:
        """A sidecar written before aliases existed (format 1) is read."""
        index = make_index("hnsw")
        index.add(range(5), vectors(5))
        path = tmp_path / "old.hnsw"
        index.save(path)
        meta = path.with_name(path.name + ".meta.json")
        doc = json.loads(meta.read_text())
        doc["format"] = 1
        del doc["aliases"]
        meta.write_text(json.dumps(doc))
        loaded = VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=10)
        assert sorted(loaded.ids()) == [0, 1, 2, 3, 4]

    @pytest.mark.parametrize(
        "aliases",
        [[[7, 1]], [[2, 99]], [[2, 3], [3, 1]], [[2, 1], [2, 1]]],
        ids=["alias-not-live", "rep-not-live", "alias-of-alias", "repeated"],
    )
    def test_inconsistent_aliases_are_corrupt(self, tmp_path: Path, aliases: Any) -> None:
        """A sidecar whose aliases do not pair live aliases with live representatives fails."""
        index = make_index("hnsw")
        index.add([1, 2, 3], copies(3))
        path = tmp_path / "bad.hnsw"
        index.save(path)
        meta = path.with_name(path.name + ".meta.json")
        doc = json.loads(meta.read_text())
        doc["aliases"] = aliases
        meta.write_text(json.dumps(doc))
        with pytest.raises(IndexCorrupt, match="aliases"):
            VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=10)

    @pytest.mark.parametrize("seed", range(4))
    def test_churn_over_few_distinct_vectors_matches_a_model(
        self, tmp_path: Path, mode: str, seed: int
    ) -> None:
        """Random adds, replacements, deletes and reloads with many copies match a dict."""
        rng = np.random.default_rng(seed)
        pool = vectors(4, seed=seed + 50)
        index = make_index(mode, initial_capacity=2)
        model: dict[int, int] = {}  # id -> pool row
        for step in range(150):
            ids = [int(i) for i in rng.choice(25, size=int(rng.integers(1, 5)), replace=False)]
            if rng.random() < 0.55:
                rows = rng.integers(0, len(pool), size=len(ids))
                index.add(ids, pool[rows])
                model.update(zip(ids, rows.tolist(), strict=True))
            else:
                index.delete(ids)
                for i in ids:
                    model.pop(i, None)
            if step % 50 == 49:
                index.save(tmp_path / "churn.hnsw")
                index = reload(tmp_path / "churn.hnsw", mode, ef=64)
            assert sorted(index.ids()) == sorted(model)
            distinct = set(model.values())
            if mode == "hnsw":
                assert index.stats().live - index.stats().duplicates == len(distinct)
            for row in distinct:
                same = sorted(i for i, r in model.items() if r == row)
                hits = index.search(pool[row], k=len(same))
                assert sorted(h.id for h in hits) == same
                assert all(h.similarity == pytest.approx(1.0, abs=1e-5) for h in hits)


class TestStoredVectors:
    """Loading reads the vectors from the graph file's block, checked against hnswlib."""

    def graph(self, tmp_path: Path) -> tuple[Path, Any, list[int]]:
        index = make_index("hnsw")
        index.add(range(100, 160), vectors(60))
        index.delete([101, 130])
        index.add([7, 8], vectors(2, seed=3))  # reuse the deleted slots
        path = tmp_path / "g.hnsw"
        index.save(path)
        hnsw = hnswlib.Index(space="cosine", dim=DIM)
        hnsw.load_index(str(path), max_elements=0, allow_replace_deleted=True)
        return path, hnsw, sorted(index.ids())

    def test_same_vectors_as_get_items(self, tmp_path: Path) -> None:
        """The block read gives exactly what get_items gives, in the order asked."""
        path, hnsw, ids = self.graph(tmp_path)
        ids = ids[::-1]
        got = _stored_vectors(path, hnsw, ids, DIM)
        assert got is not None
        np.testing.assert_array_equal(got, np.asarray(hnsw.get_items(ids), np.float32))

    def test_a_sample_that_disagrees_means_no_answer(self, tmp_path: Path) -> None:
        """If hnswlib's copy of a sampled vector differs, the block is not trusted."""
        path, hnsw, ids = self.graph(tmp_path)

        class Other:
            def get_items(self, wanted: list[int]) -> Any:
                return np.asarray(hnsw.get_items(wanted), np.float32) + np.float32(1e-3)

        assert _stored_vectors(path, Other(), ids, DIM) is None

    @pytest.mark.parametrize("damage", ["short", "header", "unknown-id", "dim"])
    def test_a_file_it_cannot_read_means_no_answer(self, tmp_path: Path, damage: str) -> None:
        """A short file, a senseless header, an id not in the file or the wrong dimension."""
        path, hnsw, ids = self.graph(tmp_path)
        dim = DIM
        if damage == "short":
            path.write_bytes(path.read_bytes()[:200])
        elif damage == "header":
            raw = bytearray(path.read_bytes())
            raw[0] = 1  # offsetLevel0 must be 0
            path.write_bytes(bytes(raw))
        elif damage == "unknown-id":
            ids = [*ids, 999]
        else:
            dim = DIM * 100
        assert _stored_vectors(path, hnsw, ids, dim) is None

    def test_load_falls_back_to_get_items(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without the block read, load gives the same index through get_items."""
        path, _, ids = self.graph(tmp_path)
        fast = VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=32)
        monkeypatch.setattr(_index_store, "_stored_vectors", lambda *_: None)
        slow = VectorIndex.load(path, embedder_name=EMBEDDER, dim=DIM, ef=32)
        assert sorted(fast.ids()) == sorted(slow.ids()) == ids
        for q in vectors(5, seed=12):
            assert fast.search(q, k=4) == slow.search(q, k=4)
