"""The analytics room: per-topic counters in minute and hour buckets that survive restarts.

The broker bumps plain ints per topic as it works (:class:`~actorgrid.actors.broker.
TopicCounters`). The :class:`AnalyticsRecorder` samples them every ``flush_interval`` and at
every minute boundary, and writes what they gained behind through the one storage writer,
as additive upserts into ``analytics_buckets`` (a minute row and an hour row per counter);
without a database the same buckets are kept in memory. Its state lives in a shared
:class:`AnalyticsState`, so a restarted recorder neither loses nor counts a delta twice.
:func:`query_report` answers a range with an :class:`AnalyticsReport`: the stored buckets
plus the deltas not written yet. Every figure is defined in ``docs/analytics.md``.

It reads the broker room's counters and nothing else; the runtime wires it.
"""

from __future__ import annotations

from ._buckets import HOUR as HOUR
from ._buckets import MINUTE as MINUTE
from ._buckets import BucketKey as BucketKey
from ._buckets import Buckets as Buckets
from ._buckets import bucket_start as bucket_start
from ._query import plan_query as plan_query
from ._query import query_report as query_report
from ._recorder import AnalyticsRecorder as AnalyticsRecorder
from ._recorder import PruneBuckets as PruneBuckets
from ._recorder import SampleNow as SampleNow
from ._report import AnalyticsReport as AnalyticsReport
from ._report import DeadLetterFigure as DeadLetterFigure
from ._report import ErrorCount as ErrorCount
from ._report import Figures as Figures
from ._report import PhaseFigure as PhaseFigure
from ._report import RetrySeries as RetrySeries
from ._report import TimeToSuccess as TimeToSuccess
from ._report import TopicSeries as TopicSeries
from ._report import build_report as build_report
from ._report import percentile as percentile
from ._sample import diff as diff
from ._sample import read_counters as read_counters
from ._settings import AnalyticsSettings as AnalyticsSettings
from ._state import AnalyticsState as AnalyticsState

__all__ = (
    "HOUR",
    "MINUTE",
    "AnalyticsRecorder",
    "AnalyticsReport",
    "AnalyticsSettings",
    "AnalyticsState",
    "BucketKey",
    "Buckets",
    "DeadLetterFigure",
    "ErrorCount",
    "Figures",
    "PhaseFigure",
    "PruneBuckets",
    "RetrySeries",
    "SampleNow",
    "TimeToSuccess",
    "TopicSeries",
    "bucket_start",
    "build_report",
    "diff",
    "percentile",
    "plan_query",
    "query_report",
    "read_counters",
)
