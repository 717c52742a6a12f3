"""The embedders: the ``Embedder`` protocol, the offline default, a sentence-transformers adapter.

An embedder turns texts into unit-length float32 vectors of a fixed dimension. It is a plain
synchronous object, called from a worker thread. The default ``HashingEmbedder`` is
deterministic and offline; ``SentenceTransformerEmbedder`` runs a model installed on this
machine, never fetched. Nothing here knows of indexes or actors.
"""

from __future__ import annotations

from ._hashing import HashingEmbedder as HashingEmbedder
from ._protocol import Embedder as Embedder
from ._protocol import validate_texts as validate_texts
from ._sentence_transformers import SentenceTransformerEmbedder as SentenceTransformerEmbedder

__all__ = (
    "Embedder",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "validate_texts",
)
