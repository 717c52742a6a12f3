"""Glimpse and revise thresholds: each embedder's measured defaults, and the settings' override."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actorgrid import HashingEmbedder, InvalidArgument, PatternSettings, Thresholds
from actorgrid.actors.patterns import Glimpse
from actorgrid.actors.patterns._settings import effective_thresholds
from actorgrid.actors.patterns.embedders import HASHING_THRESHOLDS, SENTENCE_THRESHOLDS

from .support import context, running_engine

if TYPE_CHECKING:
    from pathlib import Path

    from actorgrid.kernel import FakeClock

# Scores 0.456 against the sqlite-locked runbook with the hashing embedder: between its
# glimpse default (0.30) and the seed's 0.5.
NEAR_LOCKED = "sqlite busy: database locked"


class TestDefaults:
    def test_each_embedder_declares_its_measured_thresholds(self) -> None:
        """The hashing embedder's are lower than a sentence model's (its similarities are)."""
        assert HashingEmbedder().thresholds == HASHING_THRESHOLDS == Thresholds(0.30, 0.25)
        assert HashingEmbedder(dim=64).thresholds == HASHING_THRESHOLDS
        assert Thresholds(glimpse=0.5, revise=0.4) == SENTENCE_THRESHOLDS

    def test_settings_default_to_the_embedders(self) -> None:
        """Unset thresholds are the embedder's; a set one overrides only itself."""
        embedder = HashingEmbedder()
        assert PatternSettings().glimpse_min_similarity is None
        assert effective_thresholds(PatternSettings(), embedder) == HASHING_THRESHOLDS
        assert effective_thresholds(
            PatternSettings(glimpse_min_similarity=0.6), embedder
        ) == Thresholds(0.6, 0.25)
        assert effective_thresholds(
            PatternSettings(glimpse_min_similarity=0.7, revise_min_similarity=-0.1), embedder
        ) == Thresholds(0.7, -0.1)

    def test_an_override_is_still_checked(self) -> None:
        """A set threshold outside [-1, 1] is refused."""
        with pytest.raises(InvalidArgument, match=r"pattern\.glimpse_min_similarity"):
            PatternSettings(glimpse_min_similarity=1.5)


class TestEngineUsesThem:
    async def test_default_attaches_and_the_override_does_not(
        self, db_path: Path, clock: FakeClock
    ) -> None:
        """A glimpse scoring 0.46 is attached at the hashing default, not at an override of 0.5."""
        async with running_engine(db_path, clock) as pe:
            await pe.add_runbooks()
            [ref] = await pe.ask(Glimpse(context("a", 2, NEAR_LOCKED)))
        assert ref.source == "runbooks/sqlite-locked.md"
        assert HASHING_THRESHOLDS.glimpse <= ref.similarity < 0.5
        strict = PatternSettings(glimpse_min_similarity=0.5)
        async with running_engine(None, clock, strict) as pe:
            await pe.add_runbooks()
            assert await pe.ask(Glimpse(context("a", 2, NEAR_LOCKED))) == ()
