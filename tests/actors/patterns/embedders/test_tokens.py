"""The hashing embedder's error-text tokeniser and its IDF weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from actorgrid import EmbeddingError, HashingEmbedder
from actorgrid.actors.patterns.embedders import IdfWeights
from actorgrid.actors.patterns.embedders._tokens import terms

if TYPE_CHECKING:
    from pathlib import Path


def words(text: str) -> list[str]:
    return terms(text).words


class TestTokens:
    def test_dotted_and_snake_identifiers_keep_their_whole_form(self) -> None:
        assert words("sqlite3.OperationalError") == [
            "sqlite3.operationalerror",
            "sqlite3",
            "sqlite",
            "operationalerror",
            "operational",
        ]
        assert words("customer_id missing") == ["customer_id", "customer", "id", "missing"]

    def test_paths_yield_their_components(self) -> None:
        assert words("/var/lib/app.db") == ["var", "lib", "app.db", "app", "db"]

    def test_http_status_codes_yield_their_class(self) -> None:
        assert words("HTTP 503 from upstream") == ["http", "503", "5xx", "upstream"]
        assert "4xx" in words("got 429")
        assert "7xx" not in words("code 700")

    def test_numbers_with_units_keep_the_unit_and_ids_go(self) -> None:
        assert words("timed out after 500ms") == ["timed", "out", "ms"]
        assert words("job 7f3a9b12cd at 2024-01-01 port 54321") == ["job", "port"]

    def test_heads_are_one_per_identifier(self) -> None:
        assert terms("sqlite3.OperationalError: database locked").heads == [
            "sqlite3.operationalerror",
            "database",
            "locked",
        ]

    def test_one_failure_with_other_ids_is_the_same_vector(self) -> None:
        e = HashingEmbedder()
        a, b = e.embed(
            [
                "ConnectionResetError at /srv/run/7f3a9b12cd.sock after 30s",
                "ConnectionResetError at /srv/run/0b1c2d3e4f.sock after 5s",
            ]
        )
        assert float(a @ b) == pytest.approx(1.0, abs=1e-6)


class TestIdfWeights:
    def test_round_trip_keeps_weights_and_fingerprint(self, tmp_path: Path) -> None:
        texts = ["disk full on volume", "disk quota exceeded", "queue full", "queue lagging"]
        fitted = HashingEmbedder().fitted(texts)
        assert fitted.idf is not None
        path = tmp_path / "w.idf.npz"
        fitted.idf.save(path)
        loaded = IdfWeights.load(path)
        assert loaded == fitted.idf
        assert loaded.documents == 4
        again = HashingEmbedder(idf=loaded)
        assert again.name == fitted.name
        np.testing.assert_array_equal(again.embed(texts), fitted.embed(texts))

    def test_weights_change_the_vectors_and_the_name(self) -> None:
        texts = ["disk full on volume", "disk quota exceeded", "disk slow"]
        plain = HashingEmbedder()
        fitted = plain.fitted(texts)
        assert fitted.name.startswith(plain.name + "-idf-")
        assert not np.array_equal(plain.embed(texts), fitted.embed(texts))
        assert fitted.unweighted().name == plain.name

    def test_a_shared_word_counts_less_in_the_similarity(self) -> None:
        """Two texts that share only the word every text has score lower once fitted."""
        texts = [f"disk {w}" for w in ("full", "quota", "slow", "gone", "spinning", "cold")]
        plain = HashingEmbedder()
        fitted = plain.fitted(texts)
        a, b = plain.embed(texts[:2])
        fa, fb = fitted.embed(texts[:2])
        assert float(fa @ fb) < float(a @ b)

    def test_version_1_has_no_weights(self) -> None:
        with pytest.raises(ValueError, match="version 1"):
            HashingEmbedder(version=1).fitted(["a text"])

    def test_other_files_are_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "w.idf.npz"
        np.savez(path, format=np.asarray(99), documents=np.asarray(1), keys=[], values=[])
        with pytest.raises(EmbeddingError, match="format 99"):
            IdfWeights.load(path)
        with pytest.raises(EmbeddingError, match="cannot read"):
            IdfWeights.load(tmp_path / "missing.npz")
