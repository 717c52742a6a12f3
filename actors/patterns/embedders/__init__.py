"""The embedders: the ``Embedder`` protocol, the offline default, a sentence-transformers adapter.

An embedder turns texts into unit-length float32 vectors of a fixed dimension. It is a plain
synchronous object, called from a worker thread. The default ``HashingEmbedder`` is
deterministic and offline, its words weighed by IDF weights fitted on an index's texts;
``SentenceTransformerEmbedder`` runs a model installed on this machine, never fetched
(all-MiniLM-L6-v2 from the package the ``embeddings`` extra installs). Each embedder
declares its default glimpse and revise ``Thresholds``. Nothing here knows of indexes or
actors. The embedders need numpy, so they load on first use, not with this face: a runtime
without the pattern engine never imports them.
"""

from __future__ import annotations

import typing

from actorgrid.kernel import lazy_names as _lazy_names

from ._bundled import BUNDLED_MODELS as BUNDLED_MODELS
from ._bundled import MINILM as MINILM
from ._bundled import bundled_model_path as bundled_model_path
from ._thresholds import Thresholds as Thresholds

# ``typing.TYPE_CHECKING``, not a bare name: a face binds only what it exports.
if typing.TYPE_CHECKING:
    from ._hashing import HASHING_THRESHOLDS as HASHING_THRESHOLDS
    from ._hashing import HashingEmbedder as HashingEmbedder
    from ._idf import IdfWeights as IdfWeights
    from ._protocol import Embedder as Embedder
    from ._protocol import validate_texts as validate_texts
    from ._sentence_transformers import SENTENCE_THRESHOLDS as SENTENCE_THRESHOLDS
    from ._sentence_transformers import (
        SentenceTransformerEmbedder as SentenceTransformerEmbedder,
    )

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

_LAZY: dict[str, str] = {
    "HASHING_THRESHOLDS": "._hashing",
    "HashingEmbedder": "._hashing",
    "IdfWeights": "._idf",
    "Embedder": "._protocol",
    "validate_texts": "._protocol",
    "SENTENCE_THRESHOLDS": "._sentence_transformers",
    "SentenceTransformerEmbedder": "._sentence_transformers",
}
"""Names whose modules import numpy: loaded on first use, not with the face."""


__getattr__, __dir__ = _lazy_names(__name__, _LAZY, __all__)
