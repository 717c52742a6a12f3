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


def _slot(arg: str) -> int | None:
    return int(arg) if arg.isdigit() and int(arg) < _SLOTS else None


def _add(into: dict[str, list[int]], metric: str, counts: list[int]) -> None:
    """Add ``counts`` to ``into[metric]`` element-wise (taking a copy the first time)."""
    known = into.get(metric)
    if known is None:
        into[metric] = list(counts)
    else:
        into[metric] = [a + b for a, b in zip(known, counts, strict=True)]


class _Series:
    """One topic's (or the total's) counts per metric, one entry per bucket."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.counts: dict[str, list[int]] = {}

    def add(self, metric: str, counts: list[int]) -> None:
        _add(self.counts, metric, counts)

    def _get(self, metric: str) -> list[int]:
        found = self.counts.get(metric)
        return list(found) if found is not None else [0] * self.n

    def _by_kind(self) -> dict[str, dict[str, list[int]]]:
        """The metrics grouped by kind (the part before ``:``), phases folded into
        ``base``, ``early`` and ``revise``."""
        kinds: dict[str, dict[str, list[int]]] = {}
        for metric, counts in self.counts.items():
            kind, _, arg = metric.partition(":")
            if kind in ("retry_ok", "retry_failed"):
                arg = arg if arg in _PHASES else "base"
            _add(kinds.setdefault(kind, {}), arg, counts)
        return kinds

    def series(self) -> TopicSeries:
        n = self.n
        kinds = self._by_kind()
        ok, bad = kinds.get("retry_ok", {}), kinds.get("retry_failed", {})
        zero = [0] * n
        retries = {
            p: [a + b for a, b in zip(ok.get(p, zero), bad.get(p, zero), strict=True)]
            for p in _PHASES
        }
        handled, failed = self._get("handled"), self._get("failed")
        rates: list[float | None] = []
        for i in range(n):
            attempts = handled[i] + failed[i]
            tried = retries["base"][i] + retries["early"][i] + retries["revise"][i]
            rates.append(tried / attempts if attempts else None)
        p50, p99 = self._latency(kinds.get("latency", {}))
        return TopicSeries(
            published=self._get("published"),
            handled=handled,
            failed=failed,
            retries=RetrySeries(**retries),
            dead_letters=dict(sorted(kinds.get("dead", {}).items())),
            latency_p50=p50,
            latency_p99=p99,
            retry_rate=rates,
        )

    def _latency(
        self, by_slot: dict[str, list[int]]
    ) -> tuple[list[float | None], list[float | None]]:
        p50: list[float | None] = [None] * self.n
        p99: list[float | None] = [None] * self.n
        slots = sorted(
            (b, counts) for arg, counts in by_slot.items() if (b := _slot(arg)) is not None
        )
        if not slots:
            return p50, p99
        one = [0] * _SLOTS
        for i in range(self.n):
            if not any(counts[i] for _, counts in slots):
                continue
            for b, counts in slots:
                one[b] = counts[i]
            p50[i] = percentile(one, 0.5, _LATENCY_UNIT)
            p99[i] = percentile(one, 0.99, _LATENCY_UNIT)
            for b, _ in slots:
                one[b] = 0
        return p50, p99

    def figures(self, hours: float) -> Figures:
        kinds = self._by_kind()
        ok, bad = kinds.get("retry_ok", {}), kinds.get("retry_failed", {})
        attempts = sum(self._get("handled")) + sum(self._get("failed"))
        retries = sum(sum(v) for v in ok.values()) + sum(sum(v) for v in bad.values())
        filed = sum(sum(v) for v in kinds.get("dead", {}).values())
        errors = {k: sum(v) for k, v in kinds.get("error", {}).items()}
        top = sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_ERRORS]
        tts = [0] * _SLOTS
        for arg, counts in kinds.get("tts", {}).items():
            b = _slot(arg)
            if b is not None:
                tts[b] += sum(counts)
        return Figures(
            attempts=attempts,
            retries=retries,
            retry_rate=retries / attempts if attempts else None,
            early=_phase(ok, bad, "early"),
            revise=_phase(ok, bad, "revise"),
            time_to_success=TimeToSuccess(
                count=sum(tts),
                p50=percentile(tts, 0.5, _TTS_UNIT),
                p90=percentile(tts, 0.9, _TTS_UNIT),
                p99=percentile(tts, 0.99, _TTS_UNIT),
            ),
            dead_letters=DeadLetterFigure(filed=filed, per_hour=filed / hours if hours else 0.0),
            top_errors=[ErrorCount(error_type=k, count=v) for k, v in top],
        )


def _phase(ok: dict[str, list[int]], bad: dict[str, list[int]], phase: str) -> PhaseFigure:
    succeeded = sum(ok.get(phase, ()))
    attempts = succeeded + sum(bad.get(phase, ()))
    rate = succeeded / attempts if attempts else None
    return PhaseFigure(attempts=attempts, succeeded=succeeded, rate=rate)


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
    """Sum ``rows`` (buckets of ``size`` starting in the range; a key may repeat, its
    counts add up) into the report."""
    wanted = None if topics is None else set(topics)
    acc: dict[tuple[str, str], list[int]] = {}
    for (_, start, topic, metric), v in rows:
        i = int((start - first) // size)
        if not 0 <= i < points or (wanted is not None and topic not in wanted):
            continue
        key = (topic, metric)
        counts = acc.get(key)
        if counts is None:
            counts = acc[key] = [0] * points
        counts[i] += v
    per_topic: dict[str, _Series] = {t: _Series(points) for t in topics or ()}
    total = _Series(points)
    for (topic, metric), counts in acc.items():
        series = per_topic.get(topic)
        if series is None:
            series = per_topic[topic] = _Series(points)
        series.add(metric, counts)
        total.add(metric, counts)
    return AnalyticsReport(
        since=since,
        until=until,
        bucket=size,
        buckets=[first + i * size for i in range(points)],
        topics={t: per_topic[t].series() for t in sorted(per_topic)},
        total=total.series(),
        figures=total.figures((until - since) / 3600.0),
    )
