"""What the broker counts per topic, and the snapshot of it that the runtime hands out.

The counters are plain ints (and one histogram) bumped on the event loop's thread by the
paths that do the work: a publish, the worker around its handler call, the dead-letter
path. Nothing here formats, labels or locks; exporters read a :class:`TopicMetrics`
snapshot when they are asked (the daemon's ``/metrics``).
"""

from __future__ import annotations

from typing import final

import msgspec

from actorgrid.kernel import HistogramSnapshot, latency_histogram

__all__ = ("TopicCounters", "TopicMetrics")


class TopicMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """A snapshot of one topic's counters since the runtime started."""

    topic: str
    published: int
    """Messages accepted by ``publish`` (durable: committed), batches included."""
    handled: int
    """Handler calls that returned (acks)."""
    failed: int
    """Handler calls that raised (nacks)."""
    retried: dict[str, int]
    """Retry attempts handed to the handler, by the phase they ran in: ``early`` (the
    explicit early retry), ``base`` or ``revise``."""
    dead_lettered: dict[str, int]
    """Messages sent to the dead letters, by reason (``exhausted``, ``non_retryable``,
    ``undecodable``, ``no_subscriber``, ...)."""
    handled_seconds: HistogramSnapshot
    """How long each handler call that returned took, in seconds."""
    failed_seconds: HistogramSnapshot
    """How long each handler call that raised took, in seconds."""


@final
class TopicCounters:
    """One topic's live counters (see :class:`TopicMetrics` for what each counts)."""

    __slots__ = ("dead_lettered", "failed", "handled", "published", "retried")

    def __init__(self) -> None:
        self.published = 0
        self.handled = latency_histogram()
        """Nanoseconds per handler call that returned; its count is the topic's acks."""
        self.failed = latency_histogram()
        """Nanoseconds per handler call that raised; its count is the topic's nacks."""
        self.retried: dict[str, int] = {}
        self.dead_lettered: dict[str, int] = {}

    def retry(self, phase: str) -> None:
        """Count a retry attempt run in ``phase``."""
        self.retried[phase] = self.retried.get(phase, 0) + 1

    def dead(self, reason: str) -> None:
        """Count a dead letter filed for ``reason``."""
        self.dead_lettered[reason] = self.dead_lettered.get(reason, 0) + 1

    def snapshot(self, topic: str) -> TopicMetrics:
        """Return a copy of the counters."""
        handled = self.handled.snapshot()
        failed = self.failed.snapshot()
        return TopicMetrics(
            topic=topic,
            published=self.published,
            handled=handled.count,
            failed=failed.count,
            retried=dict(self.retried),
            dead_lettered=dict(self.dead_lettered),
            handled_seconds=handled,
            failed_seconds=failed,
        )
