"""The default embedder: offline, deterministic feature hashing of words and character n-grams."""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter
from typing import TYPE_CHECKING, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from ._protocol import FloatMatrix, validate_texts
from ._thresholds import Thresholds

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("HASHING_THRESHOLDS", "HashingEmbedder")

HASHING_THRESHOLDS: Final = Thresholds(glimpse=0.35, revise=0.25)
"""The hashing embedder's defaults, measured on real text (see
``docs/INFERENCING_VS_REFERENCING.md``)."""


# Words that carry no meaning for matching failures against reference text.
_STOPWORDS: Final = frozenset(
    """
    a an the is are was were be been being am do does did to of in on at for from by with
    and or but if then than that this these those it its as into via per so such there
    their they them we our you your he she his her i me my has have had will would can
    could should may might must shall also just very any some all each both which who whom
    what when where while about after before again against over under between during
    through because until here how why only own same too more most other nor off once error
    errors errno exception
    """.split()  # noqa: SIM905
)
_RUN: Final = re.compile(r"[^\W_]+")
_CAMEL: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_HEXISH: Final = re.compile(r"[0-9a-f]{6,}")


def _stable_hash(feature: str) -> int:
    """Return a 64-bit hash of ``feature`` that is the same in every process and version."""
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")


def _stem(word: str) -> str:
    """Strip the commonest English inflections so that "locked", "locks" and "lock" meet."""
    if len(word) > 4:
        if word.endswith("ies"):
            return word[:-3] + "y"
        if word.endswith("ing") and len(word) > 5:
            return word[:-3]
        if word.endswith("ed") and len(word) > 5:
            return word[:-2]
        if word.endswith("s") and not word.endswith(("ss", "us", "is")):
            return word[:-1]
    return word


@functools.lru_cache(maxsize=1 << 16)
def _run_words(run: str) -> tuple[str, ...]:
    """Return the words one alphanumeric run contributes (see :func:`_words`)."""
    low = run.lower()
    if (low.isdigit() and len(low) > 3) or (
        _HEXISH.fullmatch(low) and any(c.isdigit() for c in low)
    ):
        return ()
    words = [low] if len(low) >= 2 and low not in _STOPWORDS else []
    parts = _CAMEL.findall(run) if run.isascii() else []
    if len(parts) > 1:
        for part in parts:
            p = part.lower()
            if len(p) >= 2 and p not in _STOPWORDS and not (p.isdigit() and len(p) > 3):
                words.append(p)
    return tuple(words)


def _words(text: str) -> list[str]:
    """Split ``text`` into lower-cased words.

    A camelCase or letter-digit run (``OperationalError``, ``sqlite3``) yields the whole run
    and, when it splits, its parts. Long digit runs and hex identifiers (timestamps, ids,
    hashes) are dropped: they differ between two occurrences of the same failure.
    """
    return [w for run in _RUN.findall(text) for w in _run_words(run)]


class _WordFeatures(NamedTuple):
    """One word's hashed features, computed once and cached."""

    bucket: int
    sign: float
    cols: npt.NDArray[np.int64]
    """Buckets of the word's character n-grams."""
    signs: npt.NDArray[np.float64]
    """Signs (+1/-1) of the word's character n-grams."""


class HashingEmbedder:
    """Deterministic, offline embedder: signed feature hashing of words and character n-grams.

    Each text is split into lower-cased words (a camelCase or letter-digit run also yields
    its parts; stop words, including the ubiquitous "error"/"exception", long numbers and
    hex ids are dropped). Every word contributes one word feature (its light stem, so that
    "locked" meets "lock") and the character n-grams (``ngram_range``, inclusive) of the
    word padded as ``<word>``. Features are hashed with blake2b into ``dim`` buckets, each
    with a sign taken from the hash so that collisions tend to cancel instead of piling up.
    A word seen ``tf`` times weighs ``1 + ln(tf)`` (sublinear tf) and its n-grams carry that
    weight. The word part and the n-gram part are L2-normalised separately and mixed with
    shares ``word_weight`` and ``1 - word_weight`` of the squared norm, then the row is
    L2-normalised, so cosine similarity blends word overlap and sub-word overlap.

    This is lexical matching: it finds text that shares words or word pieces with the
    query, not text that means the same in other words (``ENOTFOUND`` does not meet
    "could not be resolved"). Similarities between a short error message and a paragraph
    that explains it are typically 0.2 to 0.5.

    The result depends only on the text and the parameters, which ``name`` encodes.
    """

    def __init__(
        self,
        dim: int = 384,
        ngram_range: tuple[int, int] = (3, 5),
        *,
        word_weight: float = 0.5,
        cache_size: int = 1 << 17,
    ) -> None:
        """Create the embedder.

        Args:
            dim: Number of hash buckets, the vector dimension.
            ngram_range: Smallest and largest character n-gram length, inclusive.
            word_weight: Share of the squared norm given to whole-word features, in [0, 1].
            cache_size: How many words' hashed features to keep between calls.

        Raises:
            ValueError: A parameter is out of range.
        """
        lo, hi = ngram_range
        if dim < 2:
            raise ValueError(f"dim must be >= 2, got {dim}")
        if not 1 <= lo <= hi:
            raise ValueError(f"ngram_range must satisfy 1 <= lo <= hi, got {ngram_range}")
        if not 0.0 <= word_weight <= 1.0:
            raise ValueError(f"word_weight must be in [0, 1], got {word_weight}")
        self._dim = dim
        self._lo = lo
        self._hi = hi
        self._word_weight = word_weight
        self._cache_size = cache_size
        self._cache: dict[str, _WordFeatures] = {}
        mix = f"-w{round(word_weight * 100)}" if word_weight != 0.5 else ""
        self._name = f"hashing-v1-{dim}-{lo}-{hi}{mix}"

    @property
    def name(self) -> str:
        """Return ``hashing-v1-<dim>-<lo>-<hi>`` (plus ``-w<percent>`` for a non-default mix)."""
        return self._name

    @property
    def dim(self) -> int:
        """Return the vector dimension."""
        return self._dim

    @property
    def thresholds(self) -> Thresholds:
        """Return the default glimpse and revise thresholds (:data:`HASHING_THRESHOLDS`)."""
        return HASHING_THRESHOLDS

    def __repr__(self) -> str:
        return f"HashingEmbedder({self._name!r})"

    def _word_features(self, word: str) -> _WordFeatures:
        h = _stable_hash("w:" + _stem(word))
        bucket, sign = h % self._dim, (1.0 if h >> 63 else -1.0)
        padded = f"<{word}>"
        grams = [
            padded[i : i + n]
            for n in range(self._lo, self._hi + 1)
            for i in range(len(padded) - n + 1)
        ]
        hashes = np.fromiter((_stable_hash("c:" + g) for g in grams), np.uint64, len(grams))
        cols = (hashes % np.uint64(self._dim)).astype(np.int64)
        signs = np.where(hashes >> np.uint64(63), 1.0, -1.0)
        entry = _WordFeatures(bucket, sign, cols, signs)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[word] = entry
        return entry

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed ``texts`` (see :class:`Embedder`).

        A text with no usable word (only punctuation, ids or stop words) is embedded as if
        its whole lower-cased, whitespace-normalised text were one word, so every non-blank
        text gets a non-zero vector.

        Raises:
            EmbeddingError: ``texts`` is empty, or holds a non-string or a blank string.
        """
        items = validate_texts(texts)
        n, dim = len(items), self._dim
        rows: list[int] = []
        feats: list[_WordFeatures] = []
        tfs: list[int] = []
        cache, compute = self._cache, self._word_features
        for row, text in enumerate(items):
            counts = Counter(_words(text) or [" ".join(text.lower().split())])
            rows.extend([row] * len(counts))
            feats.extend([cache.get(w) or compute(w) for w in counts])
            tfs.extend(counts.values())
        row_base = np.asarray(rows, np.int64) * dim
        weights = 1.0 + np.log(np.asarray(tfs, np.float64))
        words_m = _bucket_sums(
            row_base + np.fromiter((f.bucket for f in feats), np.int64, len(feats)),
            weights * np.fromiter((f.sign for f in feats), np.float64, len(feats)),
            n,
            dim,
        )
        lens = np.fromiter((len(f.cols) for f in feats), np.int64, len(feats))
        grams_m = _bucket_sums(
            np.repeat(row_base, lens) + np.concatenate([f.cols for f in feats]),
            np.repeat(weights, lens) * np.concatenate([f.signs for f in feats]),
            n,
            dim,
        )
        out = math.sqrt(self._word_weight) * _normalise_rows(words_m) + math.sqrt(
            1.0 - self._word_weight
        ) * _normalise_rows(grams_m)
        return np.ascontiguousarray(_normalise_rows(out), dtype=np.float32)


def _bucket_sums(
    flat: npt.NDArray[np.int64], values: npt.NDArray[np.float64], rows: int, dim: int
) -> npt.NDArray[np.float64]:
    sums = np.bincount(flat, weights=values, minlength=rows * dim)
    return np.asarray(sums, dtype=np.float64).reshape(rows, dim)


def _normalise_rows(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    out: npt.NDArray[np.float64] = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
    return out
