"""The signals the daemon's alerts watch, and where they are read from.

:class:`AlertMonitor` reads them through the narrow :class:`SignalSource` protocol:
:class:`RuntimeSignals` is the real one, over ``Runtime.metrics()`` (counters copied
without asking any actor) and ``Runtime.readiness()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, Protocol

import msgspec

if TYPE_CHECKING:
    from actorgrid import Runtime

__all__ = ("WATCHED_ACTORS", "RuntimeSignals", "SignalSource", "Signals")

WATCHED_ACTORS: Final = {"gate_restarts": "retry-gate", "broker_restarts": "broker"}
"""The alerts on restarts and the actor of the supervision tree each one watches."""


class Signals(msgspec.Struct, frozen=True, kw_only=True):
    """One reading of the runtime: counters since it started, and gauges now."""

    attempts: int
    """Handler calls, over all topics (those that returned and those that raised)."""
    retries: int
    """Retry attempts handed to a handler, over all topics and phases."""
    dead_letters: int
    """Dead letters filed, over all topics and reasons but ``killed`` (an operator's)."""
    writer_lag: float
    """Seconds the oldest uncommitted write has waited (0.0 without a database)."""
    restarts: dict[str, int]
    """Restarts by actor name, for the actors of :data:`WATCHED_ACTORS`."""
    not_ready: str | None
    """Why the runtime cannot take work, or None when it can."""


class SignalSource(Protocol):
    """Where an :class:`~actorgrid.daemon.alerts.AlertMonitor` reads its signals."""

    async def read(self) -> Signals:
        """Return the signals now."""
        ...


class RuntimeSignals:
    """The signals of a started runtime.

    Args:
        runtime: an ``actorgrid.Runtime`` that has started.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def read(self) -> Signals:
        """Read the runtime's metrics snapshot and its readiness.

        Raises:
            RuntimeClosed: the runtime has not started.
        """
        metrics = self._runtime.metrics()
        not_ready = await self._runtime.readiness()
        watched = set(WATCHED_ACTORS.values())
        return Signals(
            attempts=sum(t.handled + t.failed for t in metrics.topics),
            retries=sum(sum(t.retried.values()) for t in metrics.topics),
            dead_letters=sum(
                n for t in metrics.topics for r, n in t.dead_lettered.items() if r != "killed"
            ),
            writer_lag=metrics.writer.lag_seconds if metrics.writer is not None else 0.0,
            restarts={a.name: a.restarts for a in metrics.actors if a.name in watched},
            not_ready=not_ready,
        )
