"""A signal source the tests set by hand: what the monitor reads, and how often."""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from actorgrid.daemon.alerts import Signals


def signals(**fields: object) -> Signals:
    """Signals of a quiet, ready runtime, with ``fields`` changed."""
    quiet = Signals(
        attempts=0,
        retries=0,
        dead_letters=0,
        writer_lag=0.0,
        restarts={"retry-gate": 0, "broker": 0},
        not_ready=None,
    )
    return msgspec.structs.replace(quiet, **fields)


@dataclass
class FakeSignals:
    """A :class:`~actorgrid.daemon.alerts.SignalSource` that answers ``now``; set
    ``failure`` to make the next reads raise it."""

    now: Signals = field(default_factory=signals)
    reads: int = 0
    failure: Exception | None = None

    async def read(self) -> Signals:
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        return self.now

    def set(self, **fields: object) -> None:
        """Change some signals (counters are totals since the start, as a runtime's)."""
        self.now = msgspec.structs.replace(self.now, **fields)
