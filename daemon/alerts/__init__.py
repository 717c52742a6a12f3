"""actorgrid.daemon.alerts: the daemon's own alerts on its runtime's signals.

``AlertMonitor(runtime, settings, clock)`` evaluates, every ``[alerts] interval`` seconds
of the runtime's clock, the signals the shipped Prometheus rules (``docs/alerts``) watch:
the retry rate, dead-letter growth, the writer's lag, restarts of the retry gate or the
broker, and readiness. Each alert fires when its signal crosses its threshold
(``AlertSettings``) and clears when it recovers; each transition is a structlog event
(``alert_firing`` / ``alert_resolved``). The daemon runs one and serves it at
``GET /v1/alerts``.
"""

from __future__ import annotations

from ._alert import Alert as Alert
from ._alert import Severity as Severity
from ._alert import State as State
from ._monitor import ALERT_NAMES as ALERT_NAMES
from ._monitor import AlertMonitor as AlertMonitor
from ._settings import AlertSettings as AlertSettings
from ._signals import WATCHED_ACTORS as WATCHED_ACTORS
from ._signals import RuntimeSignals as RuntimeSignals
from ._signals import Signals as Signals
from ._signals import SignalSource as SignalSource

__all__ = (
    "ALERT_NAMES",
    "WATCHED_ACTORS",
    "Alert",
    "AlertMonitor",
    "AlertSettings",
    "RuntimeSignals",
    "Severity",
    "SignalSource",
    "Signals",
    "State",
)
