"""Tests of the power-of-two histogram the runtime's metrics count with."""

from __future__ import annotations

import math

import pytest

from actorgrid.kernel import Histogram, latency_histogram


class TestBuckets:
    def test_bounds_are_exact(self) -> None:
        """A value lands in the first bucket whose bound it does not exceed, edges included."""
        h = Histogram(first_bits=1, last_bits=4)
        assert h.snapshot().bounds == (1.0, 3.0, 7.0, 15.0)
        for value in (0, 1, 2, 3, 4, 7, 8, 15, 16, 1000):
            h.observe(value)
        snap = h.snapshot()
        assert snap.counts == (2, 2, 2, 2, 2)
        assert snap.count == h.count == 10
        assert snap.sum == 1056.0
        assert snap.cumulative() == [(1.0, 2), (3.0, 4), (7.0, 6), (15.0, 8), (math.inf, 10)]

    def test_steps_merge_slots_and_units_scale(self) -> None:
        """With a step of 2 bits each bound is about four times the last, and the unit
        turns nanoseconds into seconds for bounds and sum alike."""
        h = latency_histogram()
        bounds = h.snapshot().bounds
        assert len(bounds) == 14
        assert bounds[0] == pytest.approx(1023e-9)
        assert bounds[-1] == pytest.approx((2**36 - 1) * 1e-9)
        h.observe(500)  # 0.5 µs: the first bucket
        h.observe(3_000_000)  # 3 ms: bit length 22, the bucket of 2**22 - 1 ns
        h.observe(100 * 10**9)  # 100 s: above every bound
        snap = h.snapshot()
        assert snap.counts[0] == 1
        assert snap.counts[bounds.index(next(b for b in bounds if b >= 3e-3))] == 1
        assert snap.counts[-1] == 1
        assert snap.sum == pytest.approx(100.003_000_5)

    @pytest.mark.parametrize(
        ("first", "last", "step"), [(-1, 4, 1), (5, 4, 1), (0, 65, 1), (0, 4, 0), (0, 5, 2)]
    )
    def test_impossible_layouts_are_refused(self, first: int, last: int, step: int) -> None:
        """Bits outside 0..64, a last below the first, a zero step or an uneven span."""
        with pytest.raises(ValueError, match="Histogram"):
            Histogram(first_bits=first, last_bits=last, step=step)

    def test_a_bad_unit_is_refused(self) -> None:
        """The unit must be a finite positive number."""
        with pytest.raises(ValueError, match="unit"):
            Histogram(first_bits=0, last_bits=4, unit=math.nan)
