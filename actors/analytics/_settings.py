"""``[analytics]``: how often the buckets are written, how long they are kept, query bounds."""

from __future__ import annotations

import msgspec

from .._exceptions import InvalidArgument

__all__ = ("AnalyticsSettings",)


def _check(name: str, value: float, *, integer: bool = False) -> None:
    ok = not isinstance(value, bool) and value > 0 and (not integer or isinstance(value, int))
    if not ok:
        raise InvalidArgument(f"analytics.{name}", value, "an integer > 0" if integer else "> 0")


class AnalyticsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[analytics]``: per-topic counters in minute and hour buckets (see docs/analytics.md)."""

    enabled: bool = True
    """Record the buckets (off: ``Runtime.analytics`` answers with empty series)."""
    flush_interval: float = 10.0
    """Seconds (of the runtime's clock) between the recorder's samples and writes; also the
    most a hard crash loses. A sample is also taken at every minute boundary."""
    minute_retention_seconds: float = 48 * 3600.0
    """How long minute buckets are kept."""
    hour_retention_seconds: float = 90 * 24 * 3600.0
    """How long hour buckets are kept."""
    prune_interval: float = 300.0
    """Seconds between prunes of buckets past their retention."""
    max_points: int = 10_000
    """The most buckets one query may span."""
    max_error_types: int = 50
    """Distinct error types counted by name per topic; the rest count as ``other``."""

    def __post_init__(self) -> None:
        _check("flush_interval", self.flush_interval)
        _check("minute_retention_seconds", self.minute_retention_seconds)
        _check("hour_retention_seconds", self.hour_retention_seconds)
        _check("prune_interval", self.prune_interval)
        _check("max_points", self.max_points, integer=True)
        _check("max_error_types", self.max_error_types, integer=True)
