"""The embedders: the ``Embedder`` protocol, the offline default, a sentence-transformers adapter.

An embedder turns texts into unit-length float32 vectors of a fixed dimension. It is a plain
synchronous object, called from a worker thread. The default ``HashingEmbedder`` is
deterministic and offline, its words weighed by IDF weights fitted on an index's texts;
``SentenceTransformerEmbedder`` runs a model installed on this machine, never fetched
(all-MiniLM-L6-v2 from the package the ``embeddings`` extra installs). Each embedder
declares its default glimpse and revise ``Thresholds``. Nothing here knows of indexes or
actors.
"""

from __future__ import annotations

from ._bundled import BUNDLED_MODELS as BUNDLED_MODELS
from ._bundled import MINILM as MINILM
from ._bundled import bundled_model_path as bundled_model_path
from ._hashing import HASHING_THRESHOLDS as HASHING_THRESHOLDS
from ._hashing import HashingEmbedder as HashingEmbedder
from ._idf import IdfWeights as IdfWeights
from ._protocol import Embedder as Embedder
from ._protocol import validate_texts as validate_texts
from ._sentence_transformers import SENTENCE_THRESHOLDS as SENTENCE_THRESHOLDS
from ._sentence_transformers import SentenceTransformerEmbedder as SentenceTransformerEmbedder
from ._thresholds import Thresholds as Thresholds

__all__ = (
    "BUNDLED_MODELS",
    "HASHING_THRESHOLDS",
    "MINILM",
    "SENTENCE_THRESHOLDS",
    "Embedder",
    "HashingEmbedder",
    "IdfWeights",
    "SentenceTransformerEmbedder",
    "Thresholds",
    "bundled_model_path",
    "validate_texts",
)
