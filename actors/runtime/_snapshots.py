"""The snapshots ``Runtime.metrics()`` and ``Runtime.status()`` return.

Frozen msgspec structs, so that they encode as they are (the daemon's ``/v1/status`` is
one of them as JSON) and nobody can change a runtime's counters through them.
"""

from __future__ import annotations

import msgspec

from actorgrid.storage import WriterStatistics

from ..broker import BrokerStatistics, TopicMetrics
from ..patterns import PatternStatistics
from ..retry import RetryGateStatistics

__all__ = (
    "ActorStatus",
    "GateDecisions",
    "RuntimeMetrics",
    "RuntimeStatus",
    "TopicStatus",
)


class GateDecisions(msgspec.Struct, frozen=True, kw_only=True):
    """How many decisions of one kind the retry gate made."""

    allowed: bool
    reason: str
    """``Decision.reason``: ``first_attempt``, ``window_open``, ``early_retry`` (allowed);
    ``waiting_base_window``, ``waiting_early_window``, ``early_retry_used``, ``exhausted``,
    ``budget`` (denied)."""
    count: int


class RuntimeMetrics(msgspec.Struct, frozen=True, kw_only=True):
    """Every counter of a running runtime, read without waiting for any actor.

    Counters start at zero when the runtime starts; they never go down while it runs.
    """

    topics: list[TopicMetrics]
    """Per topic, by name."""
    scheduled: int
    """Failures scheduled for another attempt (all topics)."""
    queued: int
    """Messages waiting for a worker now."""
    running: int
    """Deliveries in progress now."""
    gate_decisions: list[GateDecisions]
    """The retry gate's decisions by kind (empty without a gate)."""
    writer: WriterStatistics | None
    """The storage writer's counters, batch sizes and commit latency (``None`` without a
    database)."""
    actors: list[ActorStatus] = msgspec.field(default_factory=list)
    """The supervision tree as ``status()`` walks it (restarts and mailbox depths), read
    from the supervisors' own counters: no actor is asked. Empty once the tree stopped."""
    pattern_notes_dropped: int = 0
    """Failure notes the pattern engine never indexed: refused by its full mailbox, or shed
    by the engine during a backlog (``[pattern] note_backlog_limit``)."""


class ActorStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One actor or supervisor of the supervision tree."""

    name: str
    parent: str | None
    """The supervisor it runs under (``None`` for the root)."""
    supervisor: bool
    running: bool
    restarts: int
    """Times it was restarted; for the root, every restart its children had."""
    mailbox_depth: int | None
    """Messages waiting in its mailbox (``None`` for a supervisor, which has none)."""
    mailbox_capacity: int | None


class TopicStatus(msgspec.Struct, frozen=True, kw_only=True):
    """One declared topic: its settings, its subscription and its counts."""

    name: str
    durable: bool
    subscribed: bool
    workers: int
    queued: int
    """Messages waiting for a worker now."""
    running: int
    """Deliveries in progress now."""
    parked: int
    """Retries waiting in memory for a subscription."""
    published: int
    handled: int
    failed: int
    retried: dict[str, int]
    """Retry attempts by phase (``early``, ``base``, ``revise``)."""
    dead_lettered: dict[str, int]
    """Dead letters by reason."""


class RuntimeStatus(msgspec.Struct, frozen=True, kw_only=True):
    """What a runtime is doing now: its tree, its topics, the writer, gate and pattern engine."""

    state: str
    """``running``, ``stopping`` (the drain) or ``closed``."""
    actors: list[ActorStatus]
    """The supervision tree, depth first in start order."""
    topics: list[TopicStatus]
    """By name."""
    broker: BrokerStatistics
    writer: WriterStatistics | None
    """``None`` without a database."""
    gate: RetryGateStatistics | None
    """``None`` without a gate, or when it did not answer in time."""
    gate_decisions: list[GateDecisions]
    patterns: PatternStatistics | None
    """``None`` without a pattern engine, or when it did not answer in time."""
