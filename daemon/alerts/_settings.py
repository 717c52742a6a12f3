"""``[alerts]``: the daemon's own alerts, their thresholds and how often they are evaluated.

The defaults match the shipped Prometheus rules (``docs/alerts/actorgrid.yml``): a ten
minute window, a retry rate above one half over at least 20 attempts, more than ten dead
letters, a writer lag above 30 seconds, any restart of the retry gate or the broker, and a
minute of not being ready.
"""

from __future__ import annotations

import msgspec

from actorgrid import InvalidArgument

__all__ = ("AlertSettings",)


class AlertSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[alerts]``: when each of the daemon's alerts fires (see ``docs/operations.md``).

    Every alert fires when its value is above its threshold (``not_ready``: when the daemon
    has been not ready for at least its grace) and clears at the first evaluation that finds
    it back at or below.
    """

    enabled: bool = True
    """Run the monitor (off: ``GET /v1/alerts`` lists nothing)."""
    interval: float = 15.0
    """Seconds between evaluations."""
    window: float = 600.0
    """Seconds the counted signals (retry rate, dead letters, restarts) look back."""
    retry_rate: float = 0.5
    """The share of handler attempts in the window that were retries (0 to 1) above which
    ``retry_rate`` fires."""
    retry_min_attempts: int = 20
    """Fewer handler attempts than this in the window never fire ``retry_rate`` (two
    failures out of three attempts are not a trend)."""
    dead_letters: int = 10
    """Dead letters filed in the window (operator kills not counted) above which
    ``dead_letters`` fires."""
    writer_lag: float = 30.0
    """Seconds the oldest uncommitted write may wait before ``writer_lag`` fires."""
    restarts: int = 0
    """Restarts of the retry gate (``gate_restarts``) or of the broker
    (``broker_restarts``) in the window above which their alert fires (0: any restart)."""
    not_ready_grace: float = 60.0
    """Seconds the daemon may be not ready (``GET /ready`` answers 503) before
    ``not_ready`` fires (0: at the first evaluation that finds it not ready)."""

    def __post_init__(self) -> None:
        _above("alerts.interval", self.interval, 0.0, "a number of seconds > 0")
        if self.window < self.interval:
            raise InvalidArgument(
                "alerts.window", self.window, f"seconds >= alerts.interval ({self.interval:g})"
            )
        if not 0.0 <= self.retry_rate <= 1.0:
            raise InvalidArgument("alerts.retry_rate", self.retry_rate, "a share from 0 to 1")
        if self.retry_min_attempts < 1:
            raise InvalidArgument(
                "alerts.retry_min_attempts", self.retry_min_attempts, "a count >= 1"
            )
        if self.dead_letters < 0:
            raise InvalidArgument("alerts.dead_letters", self.dead_letters, "a count >= 0")
        _above("alerts.writer_lag", self.writer_lag, 0.0, "a number of seconds > 0")
        if self.restarts < 0:
            raise InvalidArgument("alerts.restarts", self.restarts, "a count >= 0")
        if self.not_ready_grace < 0:
            raise InvalidArgument(
                "alerts.not_ready_grace", self.not_ready_grace, "a number of seconds >= 0"
            )


def _above(name: str, value: float, bound: float, expected: str) -> None:
    if not value > bound:  # NaN too
        raise InvalidArgument(name, value, expected)
