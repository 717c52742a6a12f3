"""Prometheus exposition of a runtime's counters, written by prometheus-client.

:class:`RuntimeCollector` is a custom collector: at every scrape it reads
``Runtime.metrics()`` (plain counters copied on the event loop's thread, no actor is asked)
and turns the snapshot into metric families. Nothing is counted through prometheus-client
on the runtime's hot paths; the client only formats what the runtime already counts.

Metrics (every counter starts at zero when the runtime starts):

=============================================== ========= ==================================
name                                            type      labels
=============================================== ========= ==================================
``actorgrid_messages_published_total``          counter   ``topic``
``actorgrid_messages_handled_total``            counter   ``topic`` (the handler returned)
``actorgrid_messages_failed_total``             counter   ``topic`` (the handler raised)
``actorgrid_messages_retried_total``            counter   ``topic``, ``phase`` (early, base,
                                                          revise: the attempts that ran)
``actorgrid_messages_dead_lettered_total``      counter   ``topic``, ``reason``
``actorgrid_messages_scheduled_total``          counter   (failures scheduled for a retry)
``actorgrid_messages_queued``                   gauge     (waiting for a worker now)
``actorgrid_messages_running``                  gauge     (deliveries in progress now)
``actorgrid_handler_duration_seconds``          histogram ``topic``, ``outcome`` (handled,
                                                          failed)
``actorgrid_gate_decisions_total``              counter   ``decision`` (allowed, denied),
                                                          ``reason``
``actorgrid_writer_batch_operations``           histogram (operations per transaction)
``actorgrid_writer_commit_duration_seconds``    histogram (per committed transaction)
``actorgrid_writer_batches_committed_total``    counter
``actorgrid_writer_operations_committed_total`` counter
``actorgrid_writer_retries_total``              counter   (transient failures retried)
``actorgrid_writer_rejected_total``             counter   (submissions rejected for good)
``actorgrid_writer_pending_operations``         gauge
``actorgrid_writer_lag_seconds``                gauge     (age of the oldest uncommitted
                                                          submission)
``actorgrid_actor_restarts_total``              counter   ``actor`` (each actor and
                                                          supervisor below the root)
``actorgrid_actor_mailbox_depth``               gauge     ``actor`` (messages waiting)
``actorgrid_ready``                             gauge     (1 when ``/ready`` would answer
                                                          200, else 0; ``/metrics`` only)
=============================================== ========= ==================================

The actors' series exist while the supervision tree runs (the final scrape after a stop has
none). ``actorgrid_ready`` is only in the route's exposition: the readiness check reads the
database, which a synchronous collector must not wait for.

The known phases and dead-letter reasons are always exported (zero until they happen), so
``rate()`` over them has a series from the first scrape on.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from actorgrid import RuntimeClosed

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from prometheus_client.metrics_core import Metric

    from actorgrid import HistogramSnapshot, Runtime, RuntimeMetrics

__all__ = (
    "CONTENT_TYPE",
    "PHASES",
    "REASONS",
    "RuntimeCollector",
    "metric_families",
    "render_metrics",
)

CONTENT_TYPE: Final = CONTENT_TYPE_LATEST
"""The media type of :func:`render_metrics`' text (the Prometheus text format, as the
installed prometheus-client writes it)."""

PHASES: Final = ("early", "base", "revise")
"""Phases a retry attempt runs in, exported even before one happens."""

REASONS: Final = ("exhausted", "non_retryable", "undecodable", "no_subscriber", "killed")
"""Dead-letter reasons exported even before one happens (others appear when they do)."""


class RuntimeCollector:
    """A prometheus-client collector over ``runtime.metrics()``, read at every scrape.

    Register it with a :class:`prometheus_client.CollectorRegistry` (it has no
    ``describe``, so registering does not read the runtime).

    Args:
        runtime: a runtime that has started; before that (and for a runtime that never
            started) a scrape yields nothing.
    """

    def __init__(self, runtime: Runtime, *, ready: bool | None = None) -> None:
        self._runtime = runtime
        self._ready = ready

    def collect(self) -> Iterator[Metric]:
        """Read the runtime's snapshot and yield its metric families."""
        try:
            snapshot = self._runtime.metrics()
        except RuntimeClosed:
            return
        yield from metric_families(snapshot, ready=self._ready)


def render_metrics(runtime: Runtime, *, ready: bool | None = None) -> bytes:
    """Return the Prometheus text exposition of ``runtime``'s counters now.

    Args:
        runtime: the runtime to report on.
        ready: the outcome of ``await runtime.readiness()`` (``True``: ready), exported as
            ``actorgrid_ready``; None leaves the gauge out.

    The media type of the text is :data:`CONTENT_TYPE`.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RuntimeCollector(runtime, ready=ready))
    return generate_latest(registry)


def metric_families(snapshot: RuntimeMetrics, *, ready: bool | None = None) -> Iterator[Metric]:
    """Turn a metrics snapshot (and the readiness, when known) into metric families."""
    if ready is not None:
        yield GaugeMetricFamily(
            "actorgrid_ready",
            "1 when the runtime can take work (GET /ready answers 200), else 0.",
            value=1.0 if ready else 0.0,
        )
    yield from _topics(snapshot)
    yield CounterMetricFamily(
        "actorgrid_messages_scheduled_total",
        "Handler failures scheduled for another attempt.",
        value=snapshot.scheduled,
    )
    yield GaugeMetricFamily(
        "actorgrid_messages_queued", "Messages waiting for a worker.", value=snapshot.queued
    )
    yield GaugeMetricFamily(
        "actorgrid_messages_running",
        "Deliveries in progress (decoding, in the handler, or recording the outcome).",
        value=snapshot.running,
    )
    decisions = CounterMetricFamily(
        "actorgrid_gate_decisions_total",
        "Decisions of the retry gate, by outcome and reason.",
        labels=["decision", "reason"],
    )
    for d in snapshot.gate_decisions:
        decisions.add_metric(["allowed" if d.allowed else "denied", d.reason], d.count)
    yield decisions
    yield CounterMetricFamily(
        "actorgrid_pattern_notes_dropped_total",
        "Failure notes the pattern engine never indexed (mailbox full, or shed in a backlog).",
        value=snapshot.pattern_notes_dropped,
    )
    yield from _writer(snapshot)
    yield from _actors(snapshot)


def _actors(snapshot: RuntimeMetrics) -> Iterator[Metric]:
    restarts = CounterMetricFamily(
        "actorgrid_actor_restarts_total",
        "Times an actor or supervisor of the tree was restarted by its supervisor.",
        labels=["actor"],
    )
    depth = GaugeMetricFamily(
        "actorgrid_actor_mailbox_depth", "Messages waiting in an actor's mailbox.", labels=["actor"]
    )
    for a in snapshot.actors:
        if a.parent is None:
            continue  # the root counts its children's restarts again
        restarts.add_metric([a.name], a.restarts)
        if a.mailbox_depth is not None:
            depth.add_metric([a.name], a.mailbox_depth)
    yield restarts
    yield depth


def _topics(snapshot: RuntimeMetrics) -> Iterator[Metric]:
    published = CounterMetricFamily(
        "actorgrid_messages_published_total", "Messages published.", labels=["topic"]
    )
    handled = CounterMetricFamily(
        "actorgrid_messages_handled_total",
        "Handler calls that returned (acked).",
        labels=["topic"],
    )
    failed = CounterMetricFamily(
        "actorgrid_messages_failed_total",
        "Handler calls that raised (nacked).",
        labels=["topic"],
    )
    retried = CounterMetricFamily(
        "actorgrid_messages_retried_total",
        "Retry attempts handed to a handler, by the phase they ran in.",
        labels=["topic", "phase"],
    )
    dead = CounterMetricFamily(
        "actorgrid_messages_dead_lettered_total",
        "Messages sent to the dead letters, by reason.",
        labels=["topic", "reason"],
    )
    duration = HistogramMetricFamily(
        "actorgrid_handler_duration_seconds",
        "Duration of handler calls, by outcome.",
        labels=["topic", "outcome"],
    )
    for t in snapshot.topics:
        published.add_metric([t.topic], t.published)
        handled.add_metric([t.topic], t.handled)
        failed.add_metric([t.topic], t.failed)
        for phase in _keys(PHASES, t.retried):
            retried.add_metric([t.topic, phase], t.retried.get(phase, 0))
        for reason in _keys(REASONS, t.dead_lettered):
            dead.add_metric([t.topic, reason], t.dead_lettered.get(reason, 0))
        duration.add_metric([t.topic, "handled"], *_buckets(t.handled_seconds))
        duration.add_metric([t.topic, "failed"], *_buckets(t.failed_seconds))
    yield from (published, handled, failed, retried, dead, duration)


def _writer(snapshot: RuntimeMetrics) -> Iterator[Metric]:
    w = snapshot.writer
    if w is None:
        return
    yield HistogramMetricFamily(
        "actorgrid_writer_batch_operations",
        "Operations per committed transaction of the storage writer.",
        *_buckets(w.batch_ops),
    )
    yield HistogramMetricFamily(
        "actorgrid_writer_commit_duration_seconds",
        "Duration of the storage writer's committed transactions (waits for the lock included).",
        *_buckets(w.commit_seconds),
    )
    yield CounterMetricFamily(
        "actorgrid_writer_batches_committed_total",
        "Transactions the storage writer committed.",
        value=w.batches_committed,
    )
    yield CounterMetricFamily(
        "actorgrid_writer_operations_committed_total",
        "Operations the storage writer committed.",
        value=w.ops_committed,
    )
    yield CounterMetricFamily(
        "actorgrid_writer_retries_total",
        "Transaction attempts that failed transiently and were retried.",
        value=w.retries,
    )
    yield CounterMetricFamily(
        "actorgrid_writer_rejected_total",
        "Submissions the storage writer rejected for good.",
        value=w.rejected,
    )
    yield GaugeMetricFamily(
        "actorgrid_writer_pending_operations",
        "Operations submitted and not committed yet.",
        value=w.pending_ops,
    )
    yield GaugeMetricFamily(
        "actorgrid_writer_lag_seconds",
        "How long the oldest uncommitted submission has waited.",
        value=w.lag_seconds,
    )


def _keys(known: Iterable[str], seen: dict[str, int]) -> list[str]:
    """The known label values in order, then any other seen, sorted."""
    ordered = list(known)
    ordered.extend(sorted(k for k in seen if k not in ordered))
    return ordered


def _buckets(h: HistogramSnapshot) -> tuple[list[tuple[str, float]], float]:
    """A snapshot as prometheus-client's ``(le, cumulative count)`` pairs and sum."""
    return [(_le(bound), count) for bound, count in h.cumulative()], h.sum


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)
