"""A typed face over ``hdrh``'s HdrHistogram: latencies in microseconds, 3 significant figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from hdrh.histogram import HdrHistogram

__all__ = ("HIGHEST_US", "PERCENTILES", "LatencyHistogram", "Summary")

HIGHEST_US: Final = 3_600_000_000
"""The largest latency a histogram tracks (one hour); larger values are clamped to it."""
PERCENTILES: Final = (50.0, 90.0, 99.0, 99.9, 99.99)
"""The percentiles every summary reports, besides the max."""


@dataclass(frozen=True, slots=True)
class Summary:
    """Percentiles of one histogram, in milliseconds."""

    count: int
    p50: float
    p90: float
    p99: float
    p99_9: float
    p99_99: float
    max: float
    mean: float

    def to_json(self) -> dict[str, float | int]:
        """Return the summary as a JSON object (milliseconds, ``count`` a number of samples)."""
        return {
            "count": self.count,
            "p50_ms": self.p50,
            "p90_ms": self.p90,
            "p99_ms": self.p99,
            "p99.9_ms": self.p99_9,
            "p99.99_ms": self.p99_99,
            "max_ms": self.max,
            "mean_ms": self.mean,
        }


class LatencyHistogram:
    """An HDR histogram of latencies recorded in microseconds (1 us to 1 h)."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any = None) -> None:
        self.raw: Any = raw if raw is not None else HdrHistogram(1, HIGHEST_US, 3)
        """The underlying ``hdrh.histogram.HdrHistogram``."""

    def record_ns(self, nanoseconds: int) -> None:
        """Record one latency given in nanoseconds (negative counts as 0, huge is clamped)."""
        self.raw.record_value(min(max(nanoseconds // 1000, 0), HIGHEST_US))

    def add(self, other: LatencyHistogram) -> None:
        """Add every sample of ``other`` to this histogram."""
        self.raw.add(other.raw)

    @property
    def count(self) -> int:
        """How many samples were recorded."""
        return int(self.raw.get_total_count())

    def value_ms(self, percentile: float) -> float:
        """Return the latency at ``percentile`` (0 to 100), in milliseconds."""
        return float(self.raw.get_value_at_percentile(percentile)) / 1000.0

    @property
    def max_ms(self) -> float:
        """The largest latency recorded, in milliseconds (0 when empty)."""
        return float(self.raw.get_max_value()) / 1000.0 if self.count else 0.0

    def summary(self) -> Summary:
        """Return p50, p90, p99, p99.9, p99.99, max and mean, in milliseconds."""
        p50, p90, p99, p999, p9999 = (self.value_ms(p) if self.count else 0.0 for p in PERCENTILES)
        mean = float(self.raw.get_mean_value()) / 1000.0 if self.count else 0.0
        return Summary(self.count, p50, p90, p99, p999, p9999, self.max_ms, mean)

    def encode(self) -> bytes:
        """Return the histogram in HdrHistogram's compressed base64 form."""
        encoded: bytes = self.raw.encode()
        return encoded
