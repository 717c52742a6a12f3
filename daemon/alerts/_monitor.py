"""``AlertMonitor``: the daemon's own alerts, evaluated on the runtime's clock.

Every ``interval`` seconds it reads the :class:`Signals` and keeps them for ``window``
seconds, so that the counted signals (retry rate, dead letters, restarts) are the change
over the window: the difference to the newest reading at least ``window`` old (to the
first reading while the monitor is younger than that). An alert fires when its value
crosses the threshold and clears at the first evaluation that finds it back; each
transition is a structlog event, ``alert_firing`` (warning) or ``alert_resolved`` (info),
with the alert's name, value and threshold.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec
import structlog

from actorgrid import Runtime

from ._alert import Alert
from ._signals import WATCHED_ACTORS, RuntimeSignals, Signals, SignalSource

if TYPE_CHECKING:
    from actorgrid.kernel import Clock

    from ._alert import Severity
    from ._settings import AlertSettings

__all__ = ("ALERT_NAMES", "AlertMonitor")

ALERT_NAMES = ("retry_rate", "dead_letters", "writer_lag", *WATCHED_ACTORS, "not_ready")
"""Every alert, in the order they are listed."""

_SEVERITY: dict[str, Severity] = {"not_ready": "critical"}

_log = structlog.get_logger("actorgrid.daemon.alerts")


@dataclass(frozen=True, slots=True)
class _Reading:
    at: float
    signals: Signals


@dataclass(frozen=True, slots=True)
class _Verdict:
    value: float
    threshold: float
    firing: bool
    summary: str


class AlertMonitor:
    """Evaluates the daemon's alerts over a runtime's signals.

    Args:
        source: the runtime (an ``actorgrid.Runtime`` that has started), or any
            :class:`SignalSource`.
        settings: the thresholds, the window and the interval (``[alerts]``).
        clock: the runtime's clock; the window, ``since`` and ``run``'s pauses use it.
    """

    def __init__(
        self, source: Runtime | SignalSource, settings: AlertSettings, clock: Clock
    ) -> None:
        self._source: SignalSource = (
            RuntimeSignals(source) if isinstance(source, Runtime) else source
        )
        self.settings = settings
        self._clock = clock
        self._readings: collections.deque[_Reading] = collections.deque()
        self._not_ready_since: float | None = None
        started = clock.now()
        window = _duration(settings.window)
        self._alerts = {
            name: Alert(
                name=name,
                severity=_SEVERITY.get(name, "warning"),
                state="ok",
                summary=f"not evaluated yet (every {_duration(settings.interval)}, over {window})",
                value=0.0,
                threshold=self._threshold(name),
                since=started,
            )
            for name in ALERT_NAMES
        }

    async def run(self) -> None:
        """Evaluate now and then every ``interval`` seconds, until cancelled.

        A failed reading (the database does not answer) is logged as
        ``alert_evaluation_failed`` and leaves the alerts as they were.
        """
        while True:
            try:
                await self.evaluate()
            except Exception as exc:
                _log.warning("alert_evaluation_failed", error=f"{type(exc).__name__}: {exc}")
            await self._clock.sleep(self.settings.interval)

    async def evaluate(self) -> list[Alert]:
        """Read the signals now, update every alert, log the transitions.

        Returns:
            Every alert (firing and ok), in :data:`ALERT_NAMES` order.

        Raises:
            RuntimeClosed: the runtime has not started.
        """
        signals = await self._source.read()
        now = self._clock.now()
        self._remember(_Reading(now, signals))
        for name, verdict in self._verdicts(now, signals).items():
            self._update(name, verdict, now)
        return self.alerts()

    def alerts(self) -> list[Alert]:
        """Every alert at the last evaluation, firing or not."""
        return list(self._alerts.values())

    def active(self) -> list[Alert]:
        """The alerts firing at the last evaluation."""
        return [a for a in self._alerts.values() if a.state == "firing"]

    # -- internals ----------------------------------------------------------------------

    def _remember(self, reading: _Reading) -> None:
        readings = self._readings
        readings.append(reading)
        horizon = reading.at - self.settings.window
        while len(readings) >= 2 and readings[1].at <= horizon:
            readings.popleft()

    def _threshold(self, name: str) -> float:
        s = self.settings
        thresholds: dict[str, float] = {
            "retry_rate": s.retry_rate,
            "dead_letters": s.dead_letters,
            "writer_lag": s.writer_lag,
            **dict.fromkeys(WATCHED_ACTORS, s.restarts),
            "not_ready": s.not_ready_grace,
        }
        return float(thresholds[name])

    def _verdicts(self, now: float, now_signals: Signals) -> dict[str, _Verdict]:
        s = self.settings
        base = self._readings[0].signals
        span = _duration(min(now - self._readings[0].at, s.window) or s.window)
        attempts = now_signals.attempts - base.attempts
        retries = now_signals.retries - base.retries
        rate = retries / attempts if attempts > 0 else 0.0
        dead = now_signals.dead_letters - base.dead_letters
        lag = now_signals.writer_lag
        verdicts = {
            "retry_rate": _Verdict(
                rate,
                s.retry_rate,
                attempts >= s.retry_min_attempts and rate > s.retry_rate,
                f"{rate:.0%} of {attempts} handler attempts in the last {span} were retries "
                f"(fires above {s.retry_rate:.0%} over at least {s.retry_min_attempts})",
            ),
            "dead_letters": _Verdict(
                dead,
                s.dead_letters,
                dead > s.dead_letters,
                f"{dead} dead letters in the last {span} (fires above {s.dead_letters})",
            ),
            "writer_lag": _Verdict(
                lag,
                s.writer_lag,
                lag > s.writer_lag,
                f"the storage writer is {lag:.1f} s behind (fires above {s.writer_lag:g} s)",
            ),
        }
        for name, actor in WATCHED_ACTORS.items():
            n = now_signals.restarts.get(actor, 0) - base.restarts.get(actor, 0)
            verdicts[name] = _Verdict(
                n,
                s.restarts,
                n > s.restarts,
                f"{actor} restarted {n} times in the last {span} (fires above {s.restarts})",
            )
        verdicts["not_ready"] = self._readiness(now, now_signals.not_ready)
        return verdicts

    def _readiness(self, now: float, reason: str | None) -> _Verdict:
        grace = self.settings.not_ready_grace
        if reason is None:
            self._not_ready_since = None
            return _Verdict(0.0, grace, False, "ready")
        if self._not_ready_since is None:
            self._not_ready_since = now
        down = now - self._not_ready_since
        summary = f"not ready for {down:g} s (fires at {grace:g} s): {reason}"
        return _Verdict(down, grace, down >= grace, summary)

    def _update(self, name: str, verdict: _Verdict, now: float) -> None:
        old = self._alerts[name]
        state = "firing" if verdict.firing else "ok"
        changed = state != old.state
        self._alerts[name] = msgspec.structs.replace(
            old,
            state=state,
            summary=verdict.summary,
            value=float(verdict.value),
            threshold=float(verdict.threshold),
            since=now if changed else old.since,
        )
        if not changed:
            return
        if verdict.firing:
            _log.warning(
                "alert_firing",
                name=name,
                severity=old.severity,
                value=float(verdict.value),
                threshold=float(verdict.threshold),
                summary=verdict.summary,
            )
        else:
            _log.info(
                "alert_resolved",
                name=name,
                value=float(verdict.value),
                threshold=float(verdict.threshold),
                summary=verdict.summary,
            )


def _duration(seconds: float) -> str:
    """``10 min``, ``90 s``, ``2 h``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
