"""Embedders: the offline hashing embedder and the sentence-transformers adapter."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from typing import Any

import numpy as np
import pytest

from actorgrid import Embedder, EmbeddingError, HashingEmbedder, SentenceTransformerEmbedder


def cosine(embedder: HashingEmbedder, a: str, b: str) -> float:
    v = embedder.embed([a, b])
    return float(v[0] @ v[1])


class TestHashingEmbedderShape:
    """Output shape, type and normalisation."""

    def test_rows_are_unit_float32(self) -> None:
        """Each text becomes one L2-normalised float32 row of the configured dimension."""
        out = HashingEmbedder(dim=64).embed(["disk full", "connection refused by host", "x!"])
        assert out.shape == (3, 64)
        assert out.dtype == np.float32
        assert out.flags.c_contiguous
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)

    def test_satisfies_protocol(self) -> None:
        """The hashing embedder is an Embedder."""
        assert isinstance(HashingEmbedder(), Embedder)

    def test_name_encodes_parameters(self) -> None:
        """The name changes with every parameter that changes the vectors."""
        names = {
            HashingEmbedder().name,
            HashingEmbedder(dim=256).name,
            HashingEmbedder(ngram_range=(2, 4)).name,
            HashingEmbedder(word_weight=0.7).name,
        }
        assert len(names) == 4
        assert HashingEmbedder().name == "hashing-v2-384-3-5"
        assert HashingEmbedder(version=1).name == "hashing-v1-384-3-5"

    def test_punctuation_only_text_gets_a_direction(self) -> None:
        """A text with no word still gets a non-zero vector."""
        out = HashingEmbedder().embed(["!!! ???"])
        assert np.linalg.norm(out[0]) == pytest.approx(1.0, rel=1e-5)

    def test_batch_equals_single(self) -> None:
        """Embedding in a batch gives the same rows as one text at a time."""
        e = HashingEmbedder()
        texts = ["read timed out", "database is locked", "429 Too Many Requests"]
        batch = e.embed(texts)
        for i, text in enumerate(texts):
            np.testing.assert_array_equal(batch[i], e.embed([text])[0])

    def test_cache_does_not_change_results(self) -> None:
        """A tiny word cache that is cleared constantly gives identical vectors."""
        texts = ["TLS certificate has expired", "certificate verify failed", "expired token"]
        np.testing.assert_array_equal(
            HashingEmbedder(cache_size=1).embed(texts), HashingEmbedder().embed(texts)
        )

    @pytest.mark.parametrize(
        "kwargs",
        [{"dim": 1}, {"ngram_range": (0, 3)}, {"ngram_range": (5, 3)}, {"word_weight": 1.5}],
    )
    def test_bad_parameters_raise(self, kwargs: dict[str, Any]) -> None:
        """Out-of-range parameters are rejected at construction."""
        with pytest.raises(ValueError):  # noqa: PT011
            HashingEmbedder(**kwargs)


class TestHashingEmbedderDeterminism:
    """Vectors depend only on the text and the parameters."""

    def test_same_across_instances(self) -> None:
        """Two embedders with the same parameters agree exactly."""
        text = ["sqlite3.OperationalError: database is locked"]
        np.testing.assert_array_equal(HashingEmbedder().embed(text), HashingEmbedder().embed(text))

    def test_same_across_processes_with_other_hash_seeds(self) -> None:
        """Another interpreter with another PYTHONHASHSEED produces the same bytes."""
        code = (
            "import sys;from actorgrid import HashingEmbedder;"
            "sys.stdout.write(HashingEmbedder().embed(['Connection refused on port 5432'])"
            ".tobytes().hex())"
        )
        outputs = set()
        for seed in ("1", "2"):
            env = dict(os.environ, PYTHONHASHSEED=seed)
            result = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            outputs.add(result.stdout)
        here = HashingEmbedder().embed(["Connection refused on port 5432"]).tobytes().hex()
        assert outputs == {here}


class TestHashingEmbedderSimilarity:
    """Similarity follows shared words and word pieces."""

    def test_related_beats_unrelated(self) -> None:
        """A paraphrase sharing words scores higher than an unrelated sentence."""
        e = HashingEmbedder()
        query = "database is locked"
        assert cosine(e, query, "the database was locked by another writer") > cosine(
            e, query, "the quarterly report is ready"
        )

    def test_ids_and_long_numbers_are_ignored(self) -> None:
        """Messages that differ only in ids, hashes or timestamps embed identically."""
        e = HashingEmbedder()
        a, b = e.embed(
            [
                "job 1731234567 failed: lock held by 3f9a2b7c41",
                "job 1731299999 failed: lock held by 9e8d7c6b5a",
            ]
        )
        np.testing.assert_allclose(a, b, atol=1e-6)

    def test_camel_case_meets_words(self) -> None:
        """ConnectionRefusedError shares features with "connection refused"."""
        e = HashingEmbedder()
        assert cosine(e, "ConnectionRefusedError", "connection refused") > cosine(
            e, "ConnectionRefusedError", "disk quota exceeded"
        )

    def test_inflections_meet(self) -> None:
        """'locked' and 'locks' share the word feature of their stem."""
        e = HashingEmbedder(word_weight=1.0)
        assert cosine(e, "locked", "locks") == pytest.approx(1.0, abs=1e-6)


class TestEmbeddingInputErrors:
    """Bad input raises EmbeddingError."""

    @pytest.mark.parametrize(
        "texts",
        [[], [""], ["   \n\t"], ["ok", ""], [None], ["ok", 3], "a bare string", [b"bytes"], 7],
        ids=[
            "empty",
            "empty-text",
            "blank",
            "one-empty",
            "none",
            "int",
            "bare-str",
            "bytes",
            "not-iterable",
        ],
    )
    def test_rejected(self, texts: Any) -> None:
        """Empty lists, blank texts, non-strings and a bare string are rejected."""
        with pytest.raises(EmbeddingError):
            HashingEmbedder().embed(texts)


class _FakeModel:
    """Stands in for a sentence-transformers model: records how it was built and called."""

    instances: list[_FakeModel] = []

    def __init__(self, name: str, **kwargs: Any) -> None:
        if name == "missing":
            raise OSError("not found in the local cache")
        self.name = name
        self.kwargs = kwargs
        self.env_offline = os.environ.get("HF_HUB_OFFLINE")
        _FakeModel.instances.append(self)

    def get_sentence_embedding_dimension(self) -> int:
        return 8

    def encode(self, texts: list[str], **kwargs: Any) -> list[list[float]]:
        return [[8**-0.5] * 8 for _ in texts]


@pytest.fixture(name="fake_st")
def _fake_st(monkeypatch: pytest.MonkeyPatch) -> type[_FakeModel]:
    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = _FakeModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    _FakeModel.instances.clear()
    return _FakeModel


class TestSentenceTransformerEmbedder:
    """The optional adapter loads local models only and validates like the default."""

    def test_missing_extra_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the extra installed, construction names the extra to install."""
        monkeypatch.setitem(sys.modules, "sentence_transformers", None)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
        with pytest.raises(EmbeddingError, match=r"actorgrid\[embeddings\]"):
            SentenceTransformerEmbedder("all-MiniLM-L6-v2")

    def test_loads_local_files_only(self, fake_st: type[_FakeModel]) -> None:
        """The model is opened offline, with local_files_only, on the requested device."""
        e = SentenceTransformerEmbedder("/models/all-MiniLM-L6-v2/", device="cpu")
        (model,) = fake_st.instances
        assert model.kwargs == {"device": "cpu", "local_files_only": True}
        assert model.env_offline == "1"
        assert e.dim == 8
        assert e.name == "st-all-MiniLM-L6-v2-8"
        assert isinstance(e, Embedder)

    def test_model_not_on_disk_is_a_clear_error(self, fake_st: type[_FakeModel]) -> None:
        """A model that is not available locally fails at once, naming the model."""
        with pytest.raises(EmbeddingError, match="missing"):
            SentenceTransformerEmbedder("missing")

    def test_embed_returns_float32_rows(self, fake_st: type[_FakeModel]) -> None:
        """embed returns a float32 (n, dim) array."""
        out = SentenceTransformerEmbedder("m").embed(["a", "b"])
        assert out.shape == (2, 8)
        assert out.dtype == np.float32

    def test_embed_validates_input(self, fake_st: type[_FakeModel]) -> None:
        """Blank texts are rejected before reaching the model."""
        with pytest.raises(EmbeddingError):
            SentenceTransformerEmbedder("m").embed(["  "])
