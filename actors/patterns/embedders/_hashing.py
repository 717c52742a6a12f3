"""The default embedder: offline, deterministic feature hashing, weighted by fitted IDF."""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import math
import re
import zlib
from collections import Counter
from typing import TYPE_CHECKING, Final, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from ._idf import IdfWeights
from ._protocol import FloatMatrix, validate_texts
from ._thresholds import Thresholds
from ._tokens import STOPWORDS, stem, terms

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ("HASHING_THRESHOLDS", "HashingEmbedder")

HASHING_THRESHOLDS: Final = Thresholds(glimpse=0.30, revise=0.25)
"""The hashing embedder's defaults, measured on real text (see
``docs/INFERENCING_VS_REFERENCING.md``)."""
_V1_THRESHOLDS: Final = Thresholds(glimpse=0.35, revise=0.25)
"""Version 1's, measured the same way."""

_V1_RUN: Final = re.compile(r"[^\W_]+")
_V1_CAMEL: Final = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_V1_HEXISH: Final = re.compile(r"[0-9a-f]{6,}")


def _stable_hash(feature: str) -> int:
    """Return a 64-bit hash of ``feature`` that is the same in every process and version."""
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")


@functools.lru_cache(maxsize=1 << 16)
def _v1_run_words(run: str) -> tuple[str, ...]:
    low = run.lower()
    if (low.isdigit() and len(low) > 3) or (
        _V1_HEXISH.fullmatch(low) and any(c.isdigit() for c in low)
    ):
        return ()
    words = [low] if len(low) >= 2 and low not in STOPWORDS else []
    parts = _V1_CAMEL.findall(run) if run.isascii() else []
    if len(parts) > 1:
        for part in parts:
            p = part.lower()
            if len(p) >= 2 and p not in STOPWORDS and not (p.isdigit() and len(p) > 3):
                words.append(p)
    return tuple(words)


def _v1_words(text: str) -> list[str]:
    """Version 1's words: alphanumeric runs and their camelCase parts (kept to compare)."""
    return [w for run in _V1_RUN.findall(text) for w in _v1_run_words(run)]


@functools.lru_cache(maxsize=1 << 17)
def word_key(word: str) -> int:
    """Return the 64-bit key of a word feature (its light stem), the key IDF weights use."""
    return _stable_hash("w:" + stem(word))


class _WordFeatures(NamedTuple):
    """One word's hashed features, computed once and cached."""

    key: int
    """The word's key (:func:`word_key`), which IDF weights are looked up by."""
    bucket: int
    sign: float
    cols: npt.NDArray[np.int64]
    """Buckets of the word's character n-grams."""
    signs: npt.NDArray[np.float64]
    """Signs (+1/-1) of the word's character n-grams."""


class HashingEmbedder:
    """Deterministic, offline embedder: signed feature hashing of words, word pairs and
    character n-grams, each word weighed by its inverse document frequency.

    Each text is split into lower-cased words by an error-text aware tokeniser (see
    ``_tokens.py``: identifiers, dotted names and paths yield their whole form and their
    parts, HTTP status codes their class, numbers with a unit the unit; stop words, long
    numbers and hex ids are dropped). Every word contributes one word feature (its light
    stem, so that "locked" meets "lock") and the character n-grams (``ngram_range``,
    inclusive) of the word padded as ``<word>``; every two adjacent words (identifiers count
    once) contribute a word-pair feature. Features are hashed with blake2b into ``dim``
    buckets, each with a sign taken from the hash so that collisions tend to cancel instead
    of piling up. A word seen ``tf`` times weighs ``(1 + ln tf) * idf``, its n-grams carry
    that weight, a pair the mean of its two words'. ``idf`` is 1 until the embedder is
    fitted (:meth:`fitted`) on the texts of an index: then each word weighs as
    :class:`IdfWeights` says, and the name carries the weights' fingerprint. The word, pair
    and n-gram parts are L2-normalised separately and mixed with shares ``word_weight``,
    ``pair_weight`` and the rest of the squared norm, then the row is L2-normalised.

    This is lexical matching: it finds text that shares words or word pieces with the
    query, not text that means the same in other words (``ENOTFOUND`` does not meet
    "could not be resolved").

    ``version=1`` is the embedder before the error-text tokeniser, word pairs and IDF (its
    vectors unchanged), kept so that benchmarks can compare the two in one run.

    The result depends only on the text, the parameters and the weights, which ``name``
    encodes.
    """

    def __init__(
        self,
        dim: int = 384,
        ngram_range: tuple[int, int] = (3, 5),
        *,
        word_weight: float = 0.5,
        pair_weight: float = 0.0,
        idf: IdfWeights | None = None,
        version: Literal[1, 2] = 2,
        cache_size: int = 1 << 17,
    ) -> None:
        """Create the embedder.

        Args:
            dim: Number of hash buckets, the vector dimension.
            ngram_range: Smallest and largest character n-gram length, inclusive.
            word_weight: Share of the squared norm given to whole-word features, in [0, 1].
            pair_weight: Share given to word pairs, in [0, 1 - word_weight] (version 2).
            idf: Word weights (version 2); ``None``: every word weighs 1.
            version: 2 (the default) or 1 (see above).
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
        if version not in (1, 2):
            raise ValueError(f"version must be 1 or 2, got {version!r}")
        if version == 1:
            pair_weight = 0.0
            if idf is not None:
                raise ValueError("version 1 has no IDF weights")
        if not 0.0 <= pair_weight <= 1.0 - word_weight + 1e-12:
            raise ValueError(f"pair_weight must be in [0, 1 - word_weight], got {pair_weight}")
        self._dim = dim
        self._lo = lo
        self._hi = hi
        self._word_weight = word_weight
        self._pair_weight = pair_weight
        self._idf = idf
        self._version = version
        self._cache_size = cache_size
        self._cache: dict[str, _WordFeatures] = {}
        mix = f"-w{round(word_weight * 100)}" if word_weight != 0.5 else ""
        pairs = f"-p{round(pair_weight * 100)}" if pair_weight else ""
        self._base_name = f"hashing-v{version}-{dim}-{lo}-{hi}{mix}{pairs}"
        weights = "" if idf is None else f"-idf-{idf.fingerprint}"
        self._name = self._base_name + weights

    @property
    def name(self) -> str:
        """Return ``hashing-v2-<dim>-<lo>-<hi>`` (plus ``-w<percent>`` / ``-p<percent>``
        for a non-default mix, ``-idf-<fingerprint>`` when fitted; ``hashing-v1-...`` for
        version 1)."""
        return self._name

    @property
    def dim(self) -> int:
        """Return the vector dimension."""
        return self._dim

    @property
    def thresholds(self) -> Thresholds:
        """Return the default glimpse and revise thresholds (:data:`HASHING_THRESHOLDS`;
        0.35 / 0.25 for version 1)."""
        return _V1_THRESHOLDS if self._version == 1 else HASHING_THRESHOLDS

    @property
    def idf(self) -> IdfWeights | None:
        """Return the word weights in force (``None``: unweighted)."""
        return self._idf

    def __repr__(self) -> str:
        return f"HashingEmbedder({self._name!r})"

    def clear_cache(self) -> None:
        """Forget the cached word features (and those of copies sharing them), so that the
        next texts are embedded from cold, as a benchmark of throughput wants."""
        self._cache.clear()

    def unweighted(self) -> HashingEmbedder:
        """Return this embedder without IDF weights (itself if it has none)."""
        if self._idf is None:
            return self
        return self._replace(None)

    def fitted(self, texts: Iterable[str]) -> HashingEmbedder:
        """Return a copy whose words weigh by IDF fitted on ``texts`` (version 2 only).

        Raises:
            ValueError: This is a version 1 embedder.
        """
        if self._version == 1:
            raise ValueError("version 1 has no IDF weights")
        return self._replace(IdfWeights.fit(texts, self.word_keys))

    def with_idf(self, idf: IdfWeights | None) -> HashingEmbedder:
        """Return a copy that uses ``idf`` (itself if it uses those weights already)."""
        if idf == self._idf:
            return self
        return self._replace(idf)

    def _replace(self, idf: IdfWeights | None) -> HashingEmbedder:
        """Return a shallow copy with other weights; it shares the feature cache, since
        hashed features do not depend on the weights."""
        out = copy.copy(self)
        out._idf = idf
        out._name = self._base_name + ("" if idf is None else f"-idf-{idf.fingerprint}")
        return out

    def word_keys(self, text: str) -> list[int]:
        """Return the keys of the words of ``text`` (what IDF weights are fitted on)."""
        return [word_key(w) for w in self._terms(text)[0]]

    def _terms(self, text: str) -> tuple[list[str], list[str]]:
        if self._version == 1:
            return _v1_words(text), []
        found = terms(text)
        return found.words, found.heads

    def _word_features(self, word: str) -> _WordFeatures:
        key = word_key(word)
        bucket, sign = key % self._dim, (1.0 if key >> 63 else -1.0)
        padded = f"<{word}>"
        grams = [
            padded[i : i + n]
            for n in range(self._lo, self._hi + 1)
            for i in range(len(padded) - n + 1)
        ]
        if self._version == 1:
            hashes = np.fromiter((_stable_hash("c:" + g) for g in grams), np.uint64, len(grams))
            cols = (hashes % np.uint64(self._dim)).astype(np.int64)
            signs = np.where(hashes >> np.uint64(63), 1.0, -1.0)
        else:
            crcs = np.fromiter((zlib.crc32(g.encode()) for g in grams), np.int64, len(grams))
            cols = crcs % self._dim
            signs = np.where(crcs & (1 << 31), 1.0, -1.0)
        entry = _WordFeatures(key, bucket, sign, cols, signs)
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[word] = entry
        return entry

    def _compute_many(self, words: list[str]) -> None:
        """Hash the features of ``words`` (not cached yet) in one pass and cache them.

        Version 2 hashes the n-grams of every new word of a call together: one CRC-32 per
        n-gram (stable, in C, and enough to spread n-grams over a few hundred buckets) and
        one numpy pass for all of them, instead of a few small numpy calls per word.
        """
        lo, hi, dim = self._lo, self._hi, self._dim
        grams: list[str] = []
        lens: list[int] = []
        for word in words:
            padded = f"<{word}>"
            size = len(padded)
            before = len(grams)
            grams.extend(padded[i : i + n] for n in range(lo, hi + 1) for i in range(size - n + 1))
            lens.append(len(grams) - before)
        crcs = np.fromiter((zlib.crc32(g.encode()) for g in grams), np.int64, len(grams))
        cols_all = crcs % dim
        signs_all = np.where(crcs & (1 << 31), 1.0, -1.0)
        cache = self._cache
        if len(cache) + len(words) > self._cache_size:
            cache.clear()
        start = 0
        for word, count in zip(words, lens, strict=True):
            key = word_key(word)
            stop = start + count
            cache[word] = _WordFeatures(
                key,
                key % dim,
                1.0 if key >> 63 else -1.0,
                cols_all[start:stop],
                signs_all[start:stop],
            )
            start = stop

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
        pair_rows: list[int] = []
        pair_keys: list[tuple[int, int]] = []
        pair_tfs: list[int] = []
        cache, compute = self._cache, self._word_features
        idf = self._idf
        pairs = self._pair_weight > 0.0
        found_terms = [self._terms(text) for text in items]
        if self._version == 2:
            new = {
                w: None
                for (words, _), text in zip(found_terms, items, strict=True)
                for w in (words or [" ".join(text.lower().split())])
                if w not in cache
            }
            if new:
                self._compute_many(list(new))
        for row, (text, (words, heads)) in enumerate(zip(items, found_terms, strict=True)):
            counts = Counter(words or [" ".join(text.lower().split())])
            found = {w: cache.get(w) or compute(w) for w in counts}
            rows.extend([row] * len(found))
            feats.extend(found.values())
            tfs.extend(counts.values())
            if pairs and len(heads) > 1:
                keys = [found[h].key for h in heads]
                for pair, tf in Counter(itertools.pairwise(keys)).items():
                    pair_rows.append(row)
                    pair_keys.append(pair)
                    pair_tfs.append(tf)
        row_base = np.asarray(rows, np.int64) * dim
        weights = 1.0 + np.log(np.asarray(tfs, np.float64))
        if idf is not None:
            weights *= idf.weights(np.fromiter((f.key for f in feats), np.uint64, len(feats)))
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
        gram_share = 1.0 - self._word_weight - self._pair_weight
        out = math.sqrt(self._word_weight) * _normalise_rows(words_m) + math.sqrt(
            max(0.0, gram_share)
        ) * _normalise_rows(grams_m)
        if pair_keys:
            hashes = [_pair_hash(a, b) for a, b in pair_keys]
            values = 1.0 + np.log(np.asarray(pair_tfs, np.float64))
            values *= np.fromiter((1.0 if h >> 63 else -1.0 for h in hashes), np.float64)
            if idf is not None:
                ends = np.asarray(pair_keys, np.uint64)
                values *= 0.5 * (idf.weights(ends[:, 0]) + idf.weights(ends[:, 1]))
            cols = np.fromiter((h % dim for h in hashes), np.int64, len(hashes))
            pairs_m = _bucket_sums(np.asarray(pair_rows, np.int64) * dim + cols, values, n, dim)
            out += math.sqrt(self._pair_weight) * _normalise_rows(pairs_m)
        return np.ascontiguousarray(_normalise_rows(out), dtype=np.float32)


_MASK: Final = (1 << 64) - 1


def _pair_hash(first: int, second: int) -> int:
    """Return a 64-bit hash of an ordered pair of word keys (splitmix64 of their mix)."""
    z = (first * 0x9E3779B97F4A7C15 + second) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def _bucket_sums(
    flat: npt.NDArray[np.int64], values: npt.NDArray[np.float64], rows: int, dim: int
) -> npt.NDArray[np.float64]:
    sums = np.bincount(flat, weights=values, minlength=rows * dim)
    return np.asarray(sums, dtype=np.float64).reshape(rows, dim)


def _normalise_rows(m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    out: npt.NDArray[np.float64] = np.divide(m, norms, out=np.zeros_like(m), where=norms > 0)
    return out
