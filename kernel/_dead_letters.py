"""Dead-letter events: messages that reached no running actor are counted and logged, never lost
in silence.

These are the kernel's in-process dead letters (a ``tell`` to a stopped actor, messages left
in a mailbox when its actor stopped for good). The broker's durable dead-letter queue is a
different thing and lives in ``actorgrid.actors``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import final

import structlog

__all__ = ("DeadLetterLog", "DeadLetterStatistics")

_log = structlog.get_logger("actorgrid.kernel")


@dataclass(frozen=True, slots=True)
class DeadLetterStatistics:
    """A snapshot of the dead-letter events seen by one kernel."""

    total: int
    """Messages reported as dead letters so far."""
    by_actor: dict[str, int]
    """How many of them were addressed to each actor."""


@final
class DeadLetterLog:
    """Counts dead letters per recipient and emits one ``dead_letter`` log event for each."""

    __slots__ = ("_by_actor", "_total")

    def __init__(self) -> None:
        self._total = 0
        self._by_actor: Counter[str] = Counter()

    @property
    def total(self) -> int:
        """Messages reported so far."""
        return self._total

    def report(self, actor: str, message: object, reason: str) -> None:
        """Record that ``message`` addressed to ``actor`` was not delivered, and why."""
        self._total += 1
        self._by_actor[actor] += 1
        _log.warning(
            "dead_letter",
            actor=actor,
            message_type=type(message).__name__,
            reason=reason,
            total=self._total,
        )

    def statistics(self) -> DeadLetterStatistics:
        """Return a snapshot of the counters."""
        return DeadLetterStatistics(total=self._total, by_actor=dict(self._by_actor))
