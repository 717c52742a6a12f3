"""The chunk store's embedding cache: recurring texts are embedded once, bad texts never."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pytest

from actorgrid import EmbeddingError, HashingEmbedder, PatternSettings
from actorgrid.actors.patterns import _chunk_store
from actorgrid.actors.patterns._chunk_store import ChunkStore
from actorgrid.actors.patterns._indexes import new_index

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt


class CountingEmbedder(HashingEmbedder):
    """The default embedder, counting the texts it is asked to embed."""

    def __init__(self) -> None:
        super().__init__(dim=64)
        self.embedded: list[str] = []

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = super().embed(texts)
        self.embedded.extend(texts)
        return out


def store_with(embedder: CountingEmbedder) -> ChunkStore:
    settings = PatternSettings()
    return ChunkStore(
        settings, embedder, new_index(embedder, settings), new_index(embedder, settings), None, None
    )


def test_recurring_texts_are_embedded_once() -> None:
    """A text seen before is served from the cache; the vectors equal fresh ones."""
    embedder = CountingEmbedder()
    store = store_with(embedder)
    texts = ["TimeoutError: upstream timed out", "KeyError: 'customer'"]
    first = store.embed(texts)
    again = store.embed([texts[1], "OSError: disk full", texts[1], texts[0]])
    assert embedder.embedded == [*texts, "OSError: disk full"]
    np.testing.assert_array_equal(again[0], first[1])
    np.testing.assert_array_equal(again[3], first[0])
    np.testing.assert_array_equal(
        again, HashingEmbedder(dim=64).embed([texts[1], "OSError: disk full", texts[1], texts[0]])
    )
    assert again.dtype == np.float32
    assert again.shape == (4, 64)


@pytest.mark.parametrize(
    "bad", [[""], ["ok", "   "], [], ["ok", 3]], ids=["empty", "blank", "none", "int"]
)
def test_bad_texts_raise_and_cache_nothing(bad: list[object]) -> None:
    """An empty, blank or non-string text raises EmbeddingError; nothing is cached."""
    embedder = CountingEmbedder()
    store = store_with(embedder)
    with pytest.raises(EmbeddingError):
        store.embed(bad)  # type: ignore[arg-type]
    store.embed(["ok"])
    assert embedder.embedded == ["ok"]


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the bound the cache starts over; answers stay correct."""
    monkeypatch.setattr(_chunk_store, "_VECTOR_CACHE", 3)
    embedder = CountingEmbedder()
    store = store_with(embedder)
    words = [f"failure kind {chr(97 + i)}" for i in range(5)]
    for word in words:
        store.embed([word])
    embedder.embedded.clear()
    out = store.embed([words[0], words[4]])
    assert embedder.embedded == [words[0]]  # the first fell out, the last is still there
    np.testing.assert_array_equal(out, HashingEmbedder(dim=64).embed([words[0], words[4]]))
