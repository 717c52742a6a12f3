"""An alert as ``GET /v1/alerts`` and ``AlertMonitor`` hand it out."""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ("Alert", "Severity", "State")

Severity = Literal["warning", "critical"]
State = Literal["firing", "ok"]


class Alert(msgspec.Struct, frozen=True, kw_only=True):
    """One of the daemon's alerts at its last evaluation."""

    name: str
    """``retry_rate``, ``dead_letters``, ``writer_lag``, ``gate_restarts``,
    ``broker_restarts`` or ``not_ready``."""
    severity: Severity
    state: State
    """``firing``, or ``ok`` (its signal is at or below the threshold)."""
    summary: str
    """What the signal is, in a sentence."""
    value: float
    """The signal's value at the last evaluation (a share, a count or seconds)."""
    threshold: float
    """The setting it is compared with."""
    since: float
    """Epoch seconds of the runtime's clock: when it entered its state (for one that never
    fired, when the monitor started)."""
