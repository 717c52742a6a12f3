"""The embedder protocol and the input check every embedder applies.

The pattern engine calls ``embed`` from a worker thread, never on the event loop, so embedders
are plain synchronous objects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..._exceptions import EmbeddingError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._thresholds import Thresholds

__all__ = ("Embedder", "FloatMatrix", "validate_texts")

FloatMatrix = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors of a fixed dimension."""

    @property
    def name(self) -> str:
        """Identify the embedder and every parameter that changes its vectors.

        A saved index records this name; an index built under another name is rebuilt.
        """
        ...

    @property
    def dim(self) -> int:
        """Return the dimension of the vectors ``embed`` returns."""
        ...

    @property
    def thresholds(self) -> Thresholds:
        """Return the glimpse and revise thresholds measured for this embedder's scale.

        The pattern engine uses them unless ``[pattern]`` sets ``glimpse_min_similarity``
        or ``revise_min_similarity``.
        """
        ...

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed ``texts``.

        Args:
            texts: One or more non-empty strings.

        Returns:
            A C-contiguous float32 array of shape ``(len(texts), dim)``, rows L2-normalised.

        Raises:
            EmbeddingError: ``texts`` is empty, or holds a non-string or a blank string.
        """
        ...


def validate_texts(texts: Sequence[str]) -> list[str]:
    """Check that ``texts`` is a non-empty sequence of non-blank strings.

    Args:
        texts: What a caller passed to ``embed``.

    Returns:
        The texts as a list.

    Raises:
        EmbeddingError: ``texts`` is a bare string, is empty, or holds a non-string or a
            string that is empty or only whitespace.
    """
    if isinstance(texts, (str, bytes)):
        raise EmbeddingError("expected a sequence of strings, got a single string")
    try:
        items = list(texts)
    except TypeError as exc:
        raise EmbeddingError(f"expected a sequence of strings, got {type(texts).__name__}") from exc
    if not items:
        raise EmbeddingError("no texts given")
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise EmbeddingError(f"texts[{i}] is {type(text).__name__}, not str")
        if not text.strip():
            raise EmbeddingError(f"texts[{i}] is empty or only whitespace")
    return items
