"""A histogram of integer counts in power-of-two buckets, cheap enough for a hot path.

:meth:`Histogram.observe` takes a non-negative int (nanoseconds, operations) and counts it
in the slot of its bit length: one ``int.bit_length`` call, one list increment and one
addition, no search, no lock (a histogram belongs to one event loop's thread) and no
allocation. The slots are merged into the exported buckets only by
:meth:`Histogram.snapshot`, which exporters (the daemon's Prometheus collector) call when
they are asked.

A value ``v`` has bit length ``b`` exactly when ``2**(b-1) <= v <= 2**b - 1``, so the
bucket bounds ``2**b - 1`` are exact: a bucket's count is the number of values ``<=`` its
bound, as Prometheus defines it.
"""

from __future__ import annotations

import math
from typing import final

import msgspec

__all__ = ("Histogram", "HistogramSnapshot", "latency_histogram")

_SLOTS = 65
"""Slots by bit length 0 to 64: every value below ``2**64`` (584 years in nanoseconds)."""


class HistogramSnapshot(msgspec.Struct, frozen=True):
    """A copy of a histogram's counts, in its exported unit.

    Buckets are Prometheus-style upper bounds (an observation ``v`` is in the first bucket
    with ``v <= bound``), but the counts are per bucket, not cumulative.
    """

    bounds: tuple[float, ...]
    """The upper bounds, ascending; the last bucket (``counts[-1]``) has none (``+Inf``)."""
    counts: tuple[int, ...]
    """Observations per bucket: ``len(bounds) + 1`` entries."""
    sum: float
    """The sum of every observed value."""

    @property
    def count(self) -> int:
        """Observations in all."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """Return ``(upper bound, observations <= bound)`` pairs, ending with ``+Inf``."""
        pairs: list[tuple[float, int]] = []
        total = 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += n
            pairs.append((bound, total))
        return pairs


@final
class Histogram:
    """Counts of non-negative ints (below ``2**64``) in power-of-two buckets, and their sum.

    The exported buckets have the bounds ``(2**b - 1) * unit`` for ``b`` from
    ``first_bits`` to ``last_bits`` in steps of ``step`` bits, then ``+Inf``.

    Only one thread may observe (an event loop's); :meth:`snapshot` from the same thread
    sees a consistent copy.

    Args:
        first_bits: the first bucket holds every value below ``2**first_bits``.
        last_bits: the last finite bucket's bound is ``2**last_bits - 1`` (at most 64);
            larger values count in ``+Inf``.
        step: bits from one bound to the next (2: each bound is about 4 times the last).
        unit: the exported value of 1 (``1e-9`` turns nanoseconds into seconds).

    Raises:
        ValueError: the bucket layout is impossible.
    """

    __slots__ = ("_bits", "_slots", "_sum", "_unit")

    def __init__(
        self, *, first_bits: int, last_bits: int, step: int = 1, unit: float = 1.0
    ) -> None:
        if not 0 <= first_bits <= last_bits < _SLOTS or step < 1:
            raise ValueError(
                f"Histogram: need 0 <= first_bits <= last_bits <= 64 and step >= 1, got "
                f"{first_bits}, {last_bits}, {step}"
            )
        if (last_bits - first_bits) % step:
            raise ValueError("Histogram: last_bits - first_bits must be a multiple of step")
        if not (math.isfinite(unit) and unit > 0):
            raise ValueError(f"Histogram: unit must be finite and > 0, got {unit!r}")
        self._bits = tuple(range(first_bits, last_bits + 1, step))
        self._unit = float(unit)
        self._slots = [0] * _SLOTS
        self._sum = 0

    @property
    def count(self) -> int:
        """Observations so far."""
        return sum(self._slots)

    def observe(self, value: int) -> None:
        """Count one observation of ``value`` (a non-negative int below ``2**64``)."""
        self._slots[value.bit_length()] += 1
        self._sum += value

    def slots(self) -> tuple[int, ...]:
        """Return the raw counts by bit length (65 slots: slot ``b`` holds the values with
        ``2**(b-1) <= v <= 2**b - 1``), finer than the exported buckets; a copy."""
        return tuple(self._slots)

    def snapshot(self) -> HistogramSnapshot:
        """Return the counts merged into the exported buckets, in the exported unit."""
        slots = self._slots
        counts: list[int] = []
        start = 0
        for bits in self._bits:
            counts.append(sum(slots[start : bits + 1]))
            start = bits + 1
        counts.append(sum(slots[start:]))
        unit = self._unit
        bounds = tuple(((1 << bits) - 1) * unit for bits in self._bits)
        return HistogramSnapshot(bounds, tuple(counts), self._sum * unit)


def latency_histogram() -> Histogram:
    """A histogram of durations in nanoseconds, exported in seconds: bounds from about
    1 µs to about 69 s, each 4 times the one before (15 buckets with ``+Inf``)."""
    return Histogram(first_bits=10, last_bits=36, step=2, unit=1e-9)
