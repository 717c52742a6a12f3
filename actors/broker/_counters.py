"""What the broker counts per topic, and the snapshot of it that the runtime hands out.

The counters are plain ints (and a few histograms) bumped on the event loop's thread by
the paths that do the work: a publish, the worker around its handler call, the nack path,
the dead-letter path. Nothing here formats, labels or locks; exporters read a
:class:`TopicMetrics` snapshot when they are asked (the daemon's ``/metrics``), and the
analytics recorder diffs the raw counters every few seconds.
"""

from __future__ import annotations

from typing import final

import msgspec

from actorgrid.kernel import Histogram, HistogramSnapshot, latency_histogram

__all__ = ("OTHER_ERRORS", "TopicCounters", "TopicMetrics", "success_histogram")

OTHER_ERRORS = "other"
"""The error type under which failures beyond ``max_error_types`` distinct ones count."""


def success_histogram() -> Histogram:
    """A histogram of times from a first failure to the success, in milliseconds (exported
    in seconds): bounds from about 1 ms to about 12 days, each twice the one before."""
    return Histogram(first_bits=0, last_bits=40, step=2, unit=1e-3)


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
    """One topic's live counters (see :class:`TopicMetrics` for what most of them count).

    Args:
        max_error_types: distinct error types counted by name; failures of further types
            count as :data:`OTHER_ERRORS`.
    """

    __slots__ = (
        "dead_lettered",
        "errors",
        "failed",
        "handled",
        "max_error_types",
        "published",
        "retried",
        "retry_failed",
        "retry_ok",
        "to_success",
    )

    def __init__(self, max_error_types: int = 50) -> None:
        self.published = 0
        self.handled = latency_histogram()
        """Nanoseconds per handler call that returned; its count is the topic's acks."""
        self.failed = latency_histogram()
        """Nanoseconds per handler call that raised; its count is the topic's nacks."""
        self.retried: dict[str, int] = {}
        """Retry attempts begun, by phase."""
        self.retry_ok: dict[str, int] = {}
        """Retry attempts whose handler returned, by phase (``base``, ``early``, ``revise``);
        first attempts are the acks not counted here."""
        self.retry_failed: dict[str, int] = {}
        """Retry attempts whose handler raised, by phase."""
        self.dead_lettered: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        """Failed handler calls by exception type name (bounded, see ``max_error_types``)."""
        self.max_error_types = max_error_types
        self.to_success = success_histogram()
        """Milliseconds from a message's first failed attempt to its success."""

    def retry(self, phase: str) -> None:
        """Count a retry attempt run in ``phase``."""
        self.retried[phase] = self.retried.get(phase, 0) + 1

    def dead(self, reason: str) -> None:
        """Count a dead letter filed for ``reason``."""
        self.dead_lettered[reason] = self.dead_lettered.get(reason, 0) + 1

    def error(self, error_type: str) -> None:
        """Count a failed handler call raising ``error_type`` (or ``other``, past the bound)."""
        errors = self.errors
        n = errors.get(error_type)
        if n is not None:
            errors[error_type] = n + 1
        elif len(errors) < self.max_error_types:
            errors[error_type] = 1
        else:
            errors[OTHER_ERRORS] = errors.get(OTHER_ERRORS, 0) + 1

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
