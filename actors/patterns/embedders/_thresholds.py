"""The glimpse and revise thresholds an embedder declares as its defaults."""

from __future__ import annotations

import msgspec

__all__ = ("Thresholds",)


class Thresholds(msgspec.Struct, frozen=True):
    """Default minimum cosine similarities of one embedder, measured for it.

    Similarities are not comparable across embedders (a lexical embedder scores a right
    answer lower than a sentence model does), so each embedder declares the thresholds that
    suit its own scale; ``[pattern]`` settings override them. How they were measured is in
    ``docs/INFERENCING_VS_REFERENCING.md`` (``bench/pattern_engine.py``, quality section).
    """

    glimpse: float
    """The glimpse (1 chunk, for an explicit early retry) attaches a chunk at least this similar."""
    revise: float
    """The revise (up to 3 chunks, for a revise-phase attempt) attaches chunks at least this
    similar."""
