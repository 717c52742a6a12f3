"""The :class:`~actorgrid.actors.Runtime` methods that report on it: metrics and status.

``metrics()`` copies plain counters (the broker's per topic, the gate's decisions, the
writer's statistics) and waits for nobody, so an exporter may call it at every scrape.
``status()`` also walks the supervision tree and asks the retry gate and the pattern
engine for their statistics. The runtime mixes them in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actorgrid.kernel import ActorError

from .._exceptions import RuntimeClosed
from ..patterns import PatternStats
from ..retry import GateStats
from ._snapshots import ActorStatus, GateDecisions, RuntimeMetrics, RuntimeStatus, TopicStatus

if TYPE_CHECKING:
    from actorgrid.kernel import ActorRef, Kernel, Supervisor
    from actorgrid.storage import Writer

    from ..broker import BrokerCore
    from ..patterns import PatternCounters, PatternStatistics
    from ..retry import GateState, RetryGateStatistics
    from ._config import RuntimeConfig

__all__ = ("ObserveCalls",)

_STATUS_TIMEOUT = 5.0
"""Seconds ``status()`` waits for the gate's or the pattern engine's statistics."""


class ObserveCalls:
    """Metrics and status, from the runtime's parts."""

    config: RuntimeConfig
    kernel: Kernel | None
    writer: Writer | None
    _core: BrokerCore | None
    _gate: ActorRef[Any] | None
    _gate_state: GateState | None
    _pattern: ActorRef[Any] | None
    _pattern_counters: PatternCounters
    _state: str

    def _running(self, action: str, *, stopping: bool = True) -> Any:
        raise RuntimeClosed(action)  # the Runtime's own replaces this

    def metrics(self) -> RuntimeMetrics:
        """Return a snapshot of every counter: per topic (published, handled, failed,
        retried by phase, dead-lettered by reason, handler latency), the retry gate's
        decisions, the writer's statistics (batch sizes, commit latency, lag) and the
        supervision tree's restarts and mailbox depths.

        Cheap and synchronous: nothing is asked of any actor. Once the runtime has
        started, it answers while it runs, while it stops and after it stopped (the final
        counts).

        Raises:
            RuntimeClosed: the runtime has not started.
        """
        core = self._core
        if core is None:
            raise RuntimeClosed("read metrics")
        return RuntimeMetrics(
            topics=core.topic_metrics(),
            scheduled=core.scheduled,
            queued=core.queued(),
            running=core.running(),
            gate_decisions=self._gate_decisions(),
            writer=self.writer.statistics() if self.writer is not None else None,
            actors=self._actors(),
            pattern_notes_dropped=core.pattern_notes_dropped + self._pattern_counters.notes_shed,
        )

    async def status(self) -> RuntimeStatus:
        """Return what the runtime is doing now: every actor with its mailbox depth and
        restarts, every topic with its subscription and counts, the broker's and the
        writer's statistics (lag included), and the gate's and pattern engine's.

        The gate and the pattern engine get a few seconds to answer; one that does not
        (busy, or restarting) is reported as ``None`` rather than failing the call.

        Raises:
            RuntimeClosed: the runtime is not running (or stopping).
        """
        core: BrokerCore = self._running("read the status")
        assert self.kernel is not None
        return RuntimeStatus(
            state=self._state,
            actors=_tree(self.kernel),
            topics=_topics(core),
            broker=core.statistics(),
            writer=self.writer.statistics() if self.writer is not None else None,
            gate=await self._gate_statistics(),
            gate_decisions=self._gate_decisions(),
            patterns=await self._pattern_statistics(),
        )

    def _actors(self) -> list[ActorStatus]:
        """The supervision tree while it runs (or drains); nothing once it stopped."""
        if self.kernel is None or self._state not in ("running", "stopping"):
            return []
        return _tree(self.kernel)

    def _gate_decisions(self) -> list[GateDecisions]:
        state = self._gate_state
        if state is None:
            return []
        return [
            GateDecisions(allowed=allowed, reason=reason, count=n)
            for (allowed, reason), n in sorted(state.decisions.items())
        ]

    async def _gate_statistics(self) -> RetryGateStatistics | None:
        if self._gate is None:
            return None
        try:
            stats: RetryGateStatistics = await self._gate.ask(GateStats(), timeout=_STATUS_TIMEOUT)
        except ActorError:
            return None
        return stats

    async def _pattern_statistics(self) -> PatternStatistics | None:
        if self._pattern is None:
            return None
        try:
            stats: PatternStatistics = await self._pattern.ask(
                PatternStats(), timeout=_STATUS_TIMEOUT
            )
        except ActorError:
            return None
        return stats


def _tree(kernel: Kernel) -> list[ActorStatus]:
    """The supervision tree, depth first in start order, the root first."""
    root = kernel.root
    found = [
        ActorStatus(
            name=root.name,
            parent=None,
            supervisor=True,
            running=True,
            restarts=root.statistics().total_restarts,
            mailbox_depth=None,
            mailbox_capacity=None,
        )
    ]
    _children(kernel, root, found)
    return found


def _children(kernel: Kernel, supervisor: Supervisor, found: list[ActorStatus]) -> None:
    for child in supervisor.which_children():
        depth: int | None = None
        capacity: int | None = None
        nested: Supervisor | None = None
        try:
            if child.supervisor:
                nested = kernel.lookup_supervisor(child.id)
            else:
                mailbox = kernel.lookup(child.id).mailbox_statistics()
                depth, capacity = mailbox.depth, mailbox.capacity
        except LookupError:
            continue  # removed while we looked (an unsubscribe)
        found.append(
            ActorStatus(
                name=child.id,
                parent=supervisor.name,
                supervisor=child.supervisor,
                running=child.running,
                restarts=child.restarts,
                mailbox_depth=depth,
                mailbox_capacity=capacity,
            )
        )
        if nested is not None:
            _children(kernel, nested, found)


def _topics(core: BrokerCore) -> list[TopicStatus]:
    metrics = {m.topic: m for m in core.topic_metrics()}
    found: list[TopicStatus] = []
    for name in sorted(core.topics):
        spec = core.topics[name]
        sub = core.subs.get(name)
        m = metrics[name]
        found.append(
            TopicStatus(
                name=name,
                durable=spec.durable,
                subscribed=sub is not None,
                workers=len(sub.workers) if sub is not None else 0,
                queued=core.queued(name),
                running=sub.running if sub is not None else 0,
                parked=len(core.parked.get(name, ())),
                published=m.published,
                handled=m.handled,
                failed=m.failed,
                retried=m.retried,
                dead_lettered=m.dead_lettered,
            )
        )
    return found
