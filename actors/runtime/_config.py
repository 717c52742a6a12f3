"""The runtime's configuration: one msgspec Struct per ``actorgrid.toml`` section."""

from __future__ import annotations

import msgspec

from actorgrid.kernel import KernelConfig
from actorgrid.storage import DEFAULT_URL

from .._exceptions import InvalidArgument
from ..analytics import AnalyticsSettings
from ..broker import FallbackPolicy
from ..patterns import PatternSettings
from ..retry import RetryPolicyConfig

__all__ = (
    "AnalyticsSettings",
    "BrokerSettings",
    "GateSettings",
    "PatternSettings",
    "RuntimeConfig",
    "StorageSettings",
)


def _positive(name: str, value: float, *, zero: bool = False) -> None:
    if value < 0 or (value == 0 and not zero):
        raise InvalidArgument(name, value, "a number >= 0" if zero else "a number > 0")


class StorageSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[storage]``: where the database is and how the writer batches."""

    url: str | None = DEFAULT_URL
    """SQLAlchemy async URL; ``None`` runs in memory only (transient topics, no persistence)."""
    migrate: bool = True
    """Upgrade the schema to the newest revision at start."""
    max_batch_ops: int = 2000
    max_delay: float = 0.002
    """Seconds a write that wakes the idle writer may wait for company; the writer waits
    only while such waits gather some, so a lone sequential writer commits at once."""
    max_pending_ops: int = 100_000
    """Writes queued and not yet committed above which publishers wait (``publish_nowait``
    raises ``BrokerFull``): a stalled database holds publishers back instead of memory
    filling up."""
    close_timeout: float = 10.0
    """Seconds a stop may take after the drain to save state: the actors' ``on_stop`` (the
    gate's write-behind, the pattern engine's index) and the writer's final flush, together.

    A stop therefore takes at most ``broker.drain_timeout`` plus this. Past it (a database
    locked by another process, a failing disk) the stop gives up: the actors still stopping
    are cancelled (``kernel_stop_timeout``) and the rows not committed are rejected
    (``writer_flush_timeout``, an error naming them by table); it never hangs. Durable
    messages not marked done are delivered again by the next run."""

    def __post_init__(self) -> None:
        _positive("storage.max_batch_ops", self.max_batch_ops)
        _positive("storage.max_pending_ops", self.max_pending_ops)
        _positive("storage.max_delay", self.max_delay, zero=True)
        _positive("storage.close_timeout", self.close_timeout, zero=True)


class GateSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[gate]``: the retry gate (off: the broker uses the count-based fallback policy)."""

    enabled: bool = True
    flush_interval: float = 0.05
    """Seconds between write-behind flushes (the most a hard crash can lose)."""
    flush_rows: int = 1000
    max_cached: int = 100_000
    stall_warning: float = 5.0
    """Seconds a broker or worker waits for the gate before it logs ``gate_stalled``.

    It keeps waiting: a delivery's failure, success or retry decision is never dropped
    or abandoned half-way because the gate is slow (it waits for a locked database)."""
    retention_seconds: float = 7 * 24 * 3600.0
    """How long the retry record of a finished target (its cycle ended in a success or a
    replay's reset, or it ran out of retries) is kept after its last change. A target with
    a ready or scheduled message keeps its record; one in an active window always does."""
    prune_interval: float = 300.0
    """Seconds between prunes of finished targets' records."""

    def __post_init__(self) -> None:
        _positive("gate.stall_warning", self.stall_warning)
        _positive("gate.retention_seconds", self.retention_seconds, zero=True)
        _positive("gate.prune_interval", self.prune_interval)
        _positive("gate.flush_interval", self.flush_interval)
        _positive("gate.flush_rows", self.flush_rows)
        _positive("gate.max_cached", self.max_cached)


class BrokerSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[broker]``: retention, pruning and shutdown."""

    retention_seconds: float = 7 * 24 * 3600.0
    """How long ``done`` rows are kept."""
    prune_interval: float = 300.0
    drain_timeout: float = 10.0
    """Seconds a graceful stop waits for in-flight handlers."""
    reference_timeout: float = 2.0
    """Seconds a retry waits for the pattern engine's reference context."""
    scheduler_capacity: int = 1_000_000
    control_timeout: float = 30.0
    """Seconds a call of the runtime's own API waits for a built-in actor's answer
    (``request_early_retry``, ``retry_record``, ``reset_retry``; twice that for ``flush``)
    before it raises ``AskTimeout``. Deliveries never wait on a deadline."""
    barrier_timeout: float = 2.0
    """Seconds an early-retry request for a row the broker does not hold waits for the
    writer to commit what is pending before it answers ``database_busy``."""
    max_parked: int = 10_000
    """Retries kept in memory per topic while it has no subscription (past that, a durable
    one is re-armed a minute later and a transient one becomes a ``no_subscriber`` dead
    letter); a durable first attempt is never kept, its row carries it."""
    scheduled_page: int = 500
    """Scheduled rows the broker reads per page; it holds at most two pages of a durable
    topic's scheduled work in memory, the rest stays in the table until it is due."""

    def __post_init__(self) -> None:
        _positive("broker.retention_seconds", self.retention_seconds, zero=True)
        _positive("broker.prune_interval", self.prune_interval)
        _positive("broker.drain_timeout", self.drain_timeout, zero=True)
        _positive("broker.reference_timeout", self.reference_timeout)
        _positive("broker.scheduler_capacity", self.scheduler_capacity)
        _positive("broker.scheduled_page", self.scheduled_page)
        _positive("broker.max_parked", self.max_parked, zero=True)
        _positive("broker.control_timeout", self.control_timeout)
        _positive("broker.barrier_timeout", self.barrier_timeout, zero=True)


class RuntimeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything a :class:`~actorgrid.actors.Runtime` needs (defaults run as documented)."""

    kernel: KernelConfig = msgspec.field(default_factory=KernelConfig)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    retry: RetryPolicyConfig = msgspec.field(default_factory=RetryPolicyConfig)
    gate: GateSettings = msgspec.field(default_factory=GateSettings)
    broker: BrokerSettings = msgspec.field(default_factory=BrokerSettings)
    fallback: FallbackPolicy = msgspec.field(default_factory=FallbackPolicy)
    pattern: PatternSettings = msgspec.field(default_factory=PatternSettings)
    analytics: AnalyticsSettings = msgspec.field(default_factory=AnalyticsSettings)
