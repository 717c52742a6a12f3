"""The :class:`~actorgrid.actors.Runtime` method that reads the analytics buckets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._exceptions import RuntimeClosed
from ..analytics import query_report

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.kernel import Kernel

    from ..analytics import AnalyticsReport, AnalyticsState
    from ._config import RuntimeConfig

__all__ = ("AnalyticsCalls",)


class AnalyticsCalls:
    """``analytics()``, from the runtime's recorder state and database."""

    config: RuntimeConfig
    engine: AsyncEngine | None
    kernel: Kernel | None
    _analytics_state: AnalyticsState | None

    def _running(self, action: str, *, stopping: bool = True) -> Any:
        raise RuntimeClosed(action)  # the Runtime's own replaces this

    async def analytics(
        self,
        *,
        since: float,
        until: float,
        bucket: int | None = None,
        topics: Sequence[str] | None = None,
    ) -> AnalyticsReport:
        """Return per-topic counts in time buckets over ``[since, until)`` (epoch seconds)
        and the figures derived from them (see docs/analytics.md).

        What is stored (earlier runs included) plus the deltas not written yet, so the
        report is live to the second.

        Args:
            since: the range's start; the first bucket is the one it falls in.
            until: the range's end (exclusive).
            bucket: 60 (minutes) or 3600 (hours); ``None``: minutes when ``since`` is
                within ``analytics.minute_retention_seconds``, else hours.
            topics: only these topics (``None``: every topic with counts in the range).

        Raises:
            AnalyticsQueryError: ``since`` is not before ``until``, the bucket is neither
                60 nor 3600, or the range spans more than ``analytics.max_points`` buckets.
            RuntimeClosed: the runtime is not running.
        """
        self._running("read analytics")
        assert self.kernel is not None
        return await query_report(
            self._analytics_state,
            self.engine,
            self.config.analytics,
            self.kernel.clock.now(),
            since=since,
            until=until,
            bucket=bucket,
            topics=None if topics is None else list(topics),
        )
