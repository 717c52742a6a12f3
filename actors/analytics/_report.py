"""The analytics report: per-topic series over contiguous buckets, and the derived figures.

Built from :class:`Buckets` of one size (the stored rows plus the unwritten deltas) by
plain sums; every figure is defined in ``docs/analytics.md``. Histograms are kept as
counts per power-of-two slot, so a percentile over any range is read from the summed
slots (linear inside the slot it falls in).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ._buckets import BucketKey

__all__ = (
    "AnalyticsReport",
    "DeadLetterFigure",
    "ErrorCount",
    "Figures",
    "PhaseFigure",
    "RetrySeries",
    "TimeToSuccess",
    "TopicSeries",
    "build_report",
    "percentile",
)

TOP_ERRORS: Final = 10
_PHASES: Final = ("base", "early", "revise")


class RetrySeries(msgspec.Struct, frozen=True, kw_only=True):
    """Retry attempts (handler calls with an earlier failure) per bucket, by phase."""

    base: list[int]
    early: list[int]
    revise: list[int]


class TopicSeries(msgspec.Struct, frozen=True, kw_only=True):
    """One topic's counts per bucket (all lists have one entry per bucket)."""

    published: list[int]
    handled: list[int]
    failed: list[int]
    retries: RetrySeries
    dead_letters: dict[str, list[int]]
    """Dead letters filed, by reason."""
    latency_p50: list[float | None]
    """Median handler call duration in seconds (``None``: no call in the bucket)."""
    latency_p99: list[float | None]
    retry_rate: list[float | None]
    """Retries / attempts in the bucket (``None``: no attempt)."""


class PhaseFigure(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one phase's attempts over the range."""

    attempts: int
    succeeded: int
    rate: float | None
    """``succeeded / attempts`` (``None`` without attempts)."""


class TimeToSuccess(msgspec.Struct, frozen=True, kw_only=True):
    """Seconds from a message's first failed attempt to its success."""

    count: int
    p50: float | None
    p90: float | None
    p99: float | None


class DeadLetterFigure(msgspec.Struct, frozen=True, kw_only=True):
    """Dead letters filed in the range, and per hour of it."""

    filed: int
    per_hour: float


class ErrorCount(msgspec.Struct, frozen=True, kw_only=True):
    """Failed handler calls raising one exception type."""

    error_type: str
    count: int


class Figures(msgspec.Struct, frozen=True, kw_only=True):
    """The derived figures over the whole range (see docs/analytics.md)."""

    attempts: int
    retries: int
    retry_rate: float | None
    early: PhaseFigure
    revise: PhaseFigure
    time_to_success: TimeToSuccess
    dead_letters: DeadLetterFigure
    top_errors: list[ErrorCount]
    """Most first, at most ten."""


class AnalyticsReport(msgspec.Struct, frozen=True, kw_only=True):
    """Per-topic series over a time range in contiguous buckets, and the figures."""

    since: float
    until: float
    bucket: int
    """Seconds per bucket: 60 or 3600."""
    buckets: list[float]
    """Bucket starts (epoch seconds), contiguous; every series has one entry per bucket."""
    topics: dict[str, TopicSeries]
    total: TopicSeries
    """Summed over the topics returned."""
    figures: Figures


def percentile(slots: Sequence[int], q: float, unit: float) -> float | None:
    """The ``q`` quantile (0..1) of values counted in bit-length slots, times ``unit``.

    Slot ``b`` holds the values ``2**(b-1)`` to ``2**b - 1`` (slot 0: the value 0); the
    quantile is interpolated linearly inside its slot. ``None`` when nothing is counted.
    """
    total = sum(slots)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for b, n in enumerate(slots):
        if not n:
            continue
        if seen + n >= rank:
            low = 0.0 if b == 0 else float(1 << (b - 1))
            high = 0.0 if b == 0 else float((1 << b) - 1)
            frac = (rank - seen) / n
            return (low + (high - low) * frac) * unit
        seen += n
    return float((1 << (len(slots) - 1)) - 1) * unit  # pragma: no cover - rank <= total


_LATENCY_UNIT: Final = 1e-9
_TTS_UNIT: Final = 1e-3
_SLOTS: Final = 65


class _Series:
    """Mutable per-bucket accumulators of one topic (or the total)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.published = [0] * n
        self.handled = [0] * n
        self.failed = [0] * n
        self.retries = {p: [0] * n for p in _PHASES}
        self.ok = {p: [0] * n for p in _PHASES}
        self.dead: dict[str, list[int]] = {}
        self.latency: dict[int, list[int]] = {}
        """Slot counts by bucket index, for the buckets with a handler call."""
        self.tts = [0] * _SLOTS
        self.errors: dict[str, int] = {}

    def add(self, i: int, metric: str, v: int) -> None:
        kind, _, arg = metric.partition(":")
        if kind in ("published", "handled", "failed"):
            getattr(self, kind)[i] += v
        elif kind in ("retry_ok", "retry_failed"):
            phase = arg if arg in _PHASES else "base"
            self.retries[phase][i] += v
            if kind == "retry_ok":
                self.ok[phase][i] += v
        elif kind == "dead":
            self.dead.setdefault(arg, [0] * self.n)[i] += v
        elif kind == "error":
            self.errors[arg] = self.errors.get(arg, 0) + v
        elif kind == "latency" and arg.isdigit() and int(arg) < _SLOTS:
            slots = self.latency.get(i)
            if slots is None:
                slots = self.latency[i] = [0] * _SLOTS
            slots[int(arg)] += v
        elif kind == "tts" and arg.isdigit() and int(arg) < _SLOTS:
            self.tts[int(arg)] += v

    def series(self) -> TopicSeries:
        rates: list[float | None] = []
        for i in range(self.n):
            attempts = self.handled[i] + self.failed[i]
            retries = sum(self.retries[p][i] for p in _PHASES)
            rates.append(retries / attempts if attempts else None)
        return TopicSeries(
            published=self.published,
            handled=self.handled,
            failed=self.failed,
            retries=RetrySeries(**self.retries),
            dead_letters=dict(sorted(self.dead.items())),
            latency_p50=self._latency(0.5),
            latency_p99=self._latency(0.99),
            retry_rate=rates,
        )

    def _latency(self, q: float) -> list[float | None]:
        found: list[float | None] = [None] * self.n
        for i, slots in self.latency.items():
            found[i] = percentile(slots, q, _LATENCY_UNIT)
        return found

    def figures(self, hours: float) -> Figures:
        attempts = sum(self.handled) + sum(self.failed)
        retries = sum(sum(v) for v in self.retries.values())
        filed = sum(sum(v) for v in self.dead.values())
        top = sorted(self.errors.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ERRORS]
        return Figures(
            attempts=attempts,
            retries=retries,
            retry_rate=retries / attempts if attempts else None,
            early=self._phase("early"),
            revise=self._phase("revise"),
            time_to_success=TimeToSuccess(
                count=sum(self.tts),
                p50=percentile(self.tts, 0.5, _TTS_UNIT),
                p90=percentile(self.tts, 0.9, _TTS_UNIT),
                p99=percentile(self.tts, 0.99, _TTS_UNIT),
            ),
            dead_letters=DeadLetterFigure(filed=filed, per_hour=filed / hours if hours else 0.0),
            top_errors=[ErrorCount(error_type=k, count=v) for k, v in top],
        )

    def _phase(self, phase: str) -> PhaseFigure:
        attempts, ok = sum(self.retries[phase]), sum(self.ok[phase])
        return PhaseFigure(
            attempts=attempts, succeeded=ok, rate=ok / attempts if attempts else None
        )


def build_report(
    rows: Iterable[tuple[BucketKey, int]],
    *,
    since: float,
    until: float,
    size: int,
    first: float,
    points: int,
    topics: Sequence[str] | None,
) -> AnalyticsReport:
    """Sum ``rows`` (buckets of ``size`` starting in the range) into the report."""
    per_topic: dict[str, _Series] = {t: _Series(points) for t in topics or ()}
    total = _Series(points)
    for (_, start, topic, metric), v in rows:
        i = int((start - first) // size)
        if not 0 <= i < points:
            continue
        series = per_topic.get(topic)
        if series is None:
            if topics is not None:
                continue
            series = per_topic[topic] = _Series(points)
        series.add(i, metric, v)
        total.add(i, metric, v)
    return AnalyticsReport(
        since=since,
        until=until,
        bucket=size,
        buckets=[first + i * size for i in range(points)],
        topics={t: per_topic[t].series() for t in sorted(per_topic)},
        total=total.series(),
        figures=total.figures((until - since) / 3600.0),
    )
