"""Inverse document frequency weights of words, fitted on the chunks an index holds.

A word that occurs in every runbook ("connection", "retry") says little about which one a
failure belongs to; a word that occurs in two says a lot. :class:`IdfWeights` gives each
word the smoothed weight ``ln((N + 1) / (df + 1)) + 1`` of the ``N`` texts it was fitted
on, ``df`` being how many of them hold the word. Words held by fewer than two texts are not
stored: every one of them, and every word never seen, weighs as a word held by one text
(the two differ by ``ln 2`` out of about ``ln N``), which keeps the table to the words
texts share.

The weights are a value: fitting makes new ones, and their :attr:`IdfWeights.fingerprint`
names them, so an index built with one set of weights is never read with another. They are
saved with the index (:meth:`IdfWeights.save`, an ``.npz`` file written atomically).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

from ..._exceptions import EmbeddingError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ("IdfWeights",)

_FORMAT: Final = 1
_MIN_DF: Final = 2


class IdfWeights:
    """Word weights fitted on ``documents`` texts; see the module docstring.

    Args:
        keys: Sorted, distinct 64-bit word keys (the embedder's hash of each stemmed word).
        values: The weight of each key.
        documents: How many texts the weights were fitted on.

    Raises:
        ValueError: ``keys`` and ``values`` differ in length, keys are not sorted and
            distinct, or ``documents`` is negative.
    """

    __slots__ = ("_default", "_fingerprint", "_keys", "_lookup", "_values", "documents")

    def __init__(
        self,
        keys: npt.NDArray[np.uint64],
        values: npt.NDArray[np.float32],
        documents: int,
    ) -> None:
        keys = np.ascontiguousarray(keys, dtype=np.uint64)
        values = np.ascontiguousarray(values, dtype=np.float32)
        if keys.shape != values.shape or keys.ndim != 1:
            raise ValueError("keys and values must be 1-d arrays of one length")
        if len(keys) > 1 and not bool((keys[1:] > keys[:-1]).all()):
            raise ValueError("keys must be sorted and distinct")
        if documents < 0:
            raise ValueError(f"documents must be >= 0, got {documents}")
        self._keys = keys
        self._values = values
        self.documents = documents
        """How many texts the weights were fitted on."""
        self._default = _idf(documents, 1)
        self._lookup: dict[int, float] = dict(
            zip(keys.tolist(), values.astype(np.float64).tolist(), strict=True)
        )
        digest = hashlib.sha256(f"idf{_FORMAT}:{documents}:".encode())
        digest.update(keys.tobytes())
        digest.update(values.tobytes())
        self._fingerprint = digest.hexdigest()[:12]

    @classmethod
    def fit(cls, texts: Iterable[str], keys_of: Callable[[str], Iterable[int]]) -> IdfWeights:
        """Fit weights on ``texts``; ``keys_of`` returns the word keys of one text."""
        df: Counter[int] = Counter()
        n = 0
        for text in texts:
            df.update(set(keys_of(text)))
            n += 1
        shared = sorted(k for k, c in df.items() if c >= _MIN_DF)
        keys = np.asarray(shared, dtype=np.uint64)
        values = np.asarray([_idf(n, df[k]) for k in shared], dtype=np.float32)
        return cls(keys, values, n)

    @property
    def fingerprint(self) -> str:
        """Return 12 hex digits that differ between any two different sets of weights."""
        return self._fingerprint

    def __len__(self) -> int:
        """Return how many words have a stored weight."""
        return len(self._keys)

    def __repr__(self) -> str:
        return f"IdfWeights({len(self)} words, {self.documents} documents, {self.fingerprint})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IdfWeights) and other.fingerprint == self.fingerprint

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def weight(self, key: int) -> float:
        """Return the weight of the word with ``key``."""
        return self._lookup.get(key, self._default)

    def weights(self, keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.float64]:
        """Return the weight of each word key in ``keys``."""
        out = np.full(len(keys), self._default, np.float64)
        if len(self._keys):
            at = np.minimum(np.searchsorted(self._keys, keys), len(self._keys) - 1)
            found = self._keys[at] == keys
            out[found] = self._values[at[found]]
        return out

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the weights to ``path`` (``.npz``) atomically.

        Raises:
            OSError: The file could not be written; an earlier file is left as it was.
        """
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
        try:
            with tmp.open("wb") as f:
                np.savez(
                    f,
                    format=np.asarray(_FORMAT),
                    documents=np.asarray(self.documents),
                    keys=self._keys,
                    values=self._values,
                )
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> IdfWeights:
        """Read weights saved by :meth:`save`.

        Raises:
            EmbeddingError: The file is missing, unreadable, or not such a file.
        """
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                if int(data["format"]) != _FORMAT:
                    raise EmbeddingError(f"{path}: IDF format {int(data['format'])} is unknown")
                return cls(data["keys"], data["values"], int(data["documents"]))
        except EmbeddingError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise EmbeddingError(f"{path}: cannot read IDF weights: {exc}") from exc


def _idf(documents: int, df: int) -> float:
    return math.log((documents + 1) / (df + 1)) + 1.0
