"""The index's parameters and their checks, without numpy or hnswlib.

The pattern engine's settings and request checks need these whether or not the engine runs,
so they live apart from the index itself: importing them loads nothing heavy.
"""

from __future__ import annotations

import numbers
from typing import Final

from ..._exceptions import InvalidQuery

__all__ = ("DEFAULT_EXACT_THRESHOLD", "check_k", "check_threshold")

DEFAULT_EXACT_THRESHOLD: Final = 5_000
"""Below this many live items ``search`` uses exact numpy search.

Measured with ``bench/pattern_engine.py --full`` (dim 384, IDF-fitted hashing vectors of
the Zipf corpus, k=3, the engine's M=32 and ef=96, two cores), ms per query exact against
hnswlib: 0.13 against 0.15 at 3,000 items, 0.22 against 0.20 at 5,000, 0.31 against 0.25
at 7,500, 0.44 against 0.29 at 10,000, 2.3 against 0.52 at 20,000 (the measured crossover:
5,000; it was 10,000 at the former ef=128). hnswlib's recall@3 there is 0.99 and more. The
graph is kept up to date at every size, so crossing the threshold costs nothing.
"""


def check_k(k: object) -> int:
    """Return ``k`` if it is an integer >= 1.

    Raises:
        InvalidQuery: It is not.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) < 1:
        raise InvalidQuery(f"k must be an integer >= 1, got {k!r}")
    return int(k)


def check_threshold(value: object, name: str = "min_similarity") -> float:
    """Return ``value`` as a float if it is a real number in [-1, 1].

    Raises:
        InvalidQuery: It is not.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not -1.0 <= float(value) <= 1.0
    ):
        raise InvalidQuery(f"{name} must be a number in [-1, 1], got {value!r}")
    return float(value)
