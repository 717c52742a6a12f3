"""The :class:`Runtime` facade: database, writer, kernel and the built-in actors, wired.

The supervision tree (root, ``one_for_one``), in start order::

    analytics        the analytics recorder (first, so it stops last: its final sample
                     sees every handler's counts; absent when disabled)
    retry-gate       the retry gate (absent when disabled: the broker falls back)
    dead-letters     the dead-letter queue
    pattern-engine   reference chunks, glimpse/revise, failure memory (absent when disabled)
    broker           scheduled redelivery, early retries, recovery
    subscriptions    a supervisor with one supervisor per topic, ``topic:<topic>``, whose
                     children are that topic's workers, ``sub:<topic>:<n>``

A misbehaving handler can at worst restart its own worker: its exceptions (any but
``KeyboardInterrupt`` and ``SystemExit``) are nacks, and a worker that crashes all the same
is restarted by its topic's supervisor, with a growing delay (0.1 s doubling to 5 s), so
that even a worker crashing on every message never exceeds the limits above it and other
topics never notice. If the root's limit is exceeded after all, the runtime ends: a
``runtime_failed`` error is logged and leaving the block raises ``RestartLimitExceeded``.

Leaving the runtime stops intake, lets in-flight handlers finish (up to the drain
timeout), stops the tree in reverse order (the gate flushes on its way out, the pattern
engine saves its index), flushes the writer and closes the database. Everything after the
drain shares one close timeout, so a stop takes at most ``broker.drain_timeout`` plus
``storage.close_timeout``; past it, what was not saved is logged as an error.

The writer and the kernel run in a task of the runtime's own (the *host*), not in the task
that entered the runtime: a cancellation of the caller (a ``move_on_after`` around the
whole ``async with``, a cancelled task group) therefore cannot reach the actors, and leaving
the block, however it ends, is the graceful stop above. A failure of the tree (the root
supervisor gave up) cancels the caller's block instead, and leaving it raises
:class:`~actorgrid.kernel.RestartLimitExceeded`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import structlog

from actorgrid.kernel import ChildSpec, Kernel, RestartLimitExceeded, SupervisorSpec
from actorgrid.storage import (
    FlushTimeout,
    Writer,
    create_engine,
    engine_revision,
    head_revision,
    migrate_async,
)

from .._exceptions import InvalidArgument, NoSubscriber, RuntimeClosed, TopicConflict
from ..analytics import AnalyticsRecorder, AnalyticsState
from ..broker import (
    Broker,
    BrokerCore,
    BrokerStatistics,
    EarlyRetryResult,
    PublishReceipt,
    RequestEarlyRetry,
    ScheduledReader,
    Subscribed,
    Subscription,
    SubscriptionState,
    SubscriptionWorker,
    TopicSpec,
    WorkQueue,
    in_handler,
)
from ..dead_letters import DeadLetterQueue, DeadLetters, MemoryDeadLetterStore
from ..patterns import FlushPattern, PatternCounters, PatternState, resolve_index_path
from ..retry import (
    FlushGate,
    GateState,
    GetRecord,
    ResetTarget,
    RetryGate,
    RetryPolicy,
    RetryRecord,
    validate_target,
)
from ._analytics import AnalyticsCalls
from ._config import RuntimeConfig
from ._observe import ObserveCalls
from ._patterns import PatternCalls
from ._scheduled import ScheduledCalls

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.kernel import ActorRef, Clock, Supervisor

    from ..broker import Handler
    from ..retry import RetryPolicyConfig

__all__ = ("Runtime",)

_log = structlog.get_logger("actorgrid.runtime")

_PATTERN_SHUTDOWN = 60.0
"""Seconds the pattern engine may take to stop: it saves its index (large ones take long).
The stop as a whole is bounded by ``storage.close_timeout`` all the same."""

_TOPIC_POOL = SupervisorSpec(
    intensity=10, period=60.0, backoff_initial=0.1, backoff_max=5.0, stop_order="parallel"
)
"""The supervisor of one topic's workers: a crash loop restarts with a growing delay (about
26 s for ten restarts), so it escalates to ``subscriptions`` (20 restarts a minute) two or
three times a minute at most, and never further."""

_WORKER_GRACE = 0.5
"""Seconds a handler still running when its worker is stopped gets before it is cancelled.
Short on purpose: the graceful stop has already drained for ``broker.drain_timeout``, and
what the workers take comes out of the close timeout the gate and the writer need."""


def _pool_name(topic: str) -> str:
    """The name of the supervisor of ``topic``'s workers."""
    return f"topic:{topic}"


class Runtime(PatternCalls, ScheduledCalls, ObserveCalls, AnalyticsCalls):
    """actorgrid embedded in an application: ``async with Runtime(config) as rt: ...``.

    Args:
        config: the runtime settings (default: SQLite file ``./actorgrid.db``, retry gate on).
        clock: the time source (tests pass a ``FakeClock``).
    """

    def __init__(self, config: RuntimeConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or RuntimeConfig()
        self._clock = clock
        self._state = "new"  # new -> running -> stopping (handlers only) -> closed
        self._host: asyncio.Task[None] | None = None
        self._stop_requested = anyio.Event()
        self._host_done = anyio.Event()
        self._body: anyio.CancelScope | None = None
        self._failure: BaseException | None = None
        self.engine: AsyncEngine | None = None
        self.writer: Writer | None = None
        self.kernel: Kernel | None = None
        self._core: BrokerCore | None = None
        self._broker: ActorRef[Any] | None = None
        self._gate: ActorRef[Any] | None = None
        self._gate_state: GateState | None = None
        self._subs: Supervisor | None = None
        self._changing: set[str] = set()
        """Topics whose subscription is being started or taken down now."""
        self._dead_letters: DeadLetters | None = None
        self._pattern: ActorRef[Any] | None = None
        self._pattern_counters = PatternCounters()
        """The pattern engine's counters, kept across its incarnations (read by metrics)."""
        self._scheduled: ScheduledReader | None = None
        self._analytics_state: AnalyticsState | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def __aenter__(self) -> Runtime:
        if self._host is not None:
            raise RuntimeError("a Runtime can only be entered once")
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # The host is a plain asyncio task on purpose: a task started in an anyio task group
        # (or any task that the caller's cancel scopes contain) would be cancelled with the
        # caller. Its lifetime is still structured: __aexit__ always waits for it.
        self._host = asyncio.get_running_loop().create_task(
            self._run_host(ready), name="actorgrid-runtime"
        )
        try:
            await ready
        except BaseException:
            self._stop_requested.set()
            with anyio.CancelScope(shield=True):
                await self._host_done.wait()
            raise
        # Cancelled by the host if the tree fails, so that the caller's block ends.
        self._body = anyio.CancelScope()
        self._body.__enter__()
        self._state = "running"
        _log.info(
            "runtime_started", database=self.config.storage.url, gate=self.config.gate.enabled
        )
        return self

    async def _run_host(self, ready: asyncio.Future[None]) -> None:
        """The host task: start everything, wait for the stop, stop everything."""
        try:
            async with contextlib.AsyncExitStack() as stack:
                await self._start(stack, self.config)
                if ready.done():  # the caller was cancelled while we started
                    return
                ready.set_result(None)
                # Inside the kernel's task group: a failure of the tree cancels this wait.
                await self._stop_requested.wait()
                await self._stop()
        except BaseException as exc:  # handed to the caller's task, which raises it
            if not ready.done():
                ready.set_exception(exc)
            else:
                self._fail(exc)
        finally:
            self._state = "closed"
            self._host_done.set()

    def _fail(self, exc: BaseException) -> None:
        self._failure = exc
        self._state = "closed"
        if isinstance(exc, RestartLimitExceeded):
            _log.error(
                "runtime_failed",
                supervisor=exc.supervisor,
                child=exc.child,
                intensity=exc.intensity,
                period=exc.period,
                error=str(exc),
            )
        else:
            _log.error("runtime_failed", exc_info=exc)
        if self._body is not None:
            self._body.cancel()

    async def _stop(self) -> None:
        """The graceful stop, in the host: drain, then the tree and the writer, each bounded."""
        await self.drain(self.config.broker.drain_timeout)
        self._state = "closed"
        close_timeout = self.config.storage.close_timeout
        with anyio.CancelScope(shield=True):
            deadline = anyio.current_time() + close_timeout
            assert self.kernel is not None
            await self.kernel.stop(timeout=close_timeout)
            if self.writer is not None:
                left = max(0.0, deadline - anyio.current_time())
                # Logged by the writer (writer_flush_timeout names what was not written).
                with contextlib.suppress(FlushTimeout):
                    await self.writer.aclose(timeout=left)

    async def _start(self, stack: contextlib.AsyncExitStack, config: RuntimeConfig) -> None:
        url = config.storage.url
        if url is not None:
            if config.storage.migrate:
                await migrate_async(url)
            engine = self.engine = create_engine(url)
            stack.push_async_callback(engine.dispose)
            self.writer = await stack.enter_async_context(
                Writer(
                    engine,
                    max_batch_ops=config.storage.max_batch_ops,
                    max_delay=config.storage.max_delay,
                    max_pending_ops=config.storage.max_pending_ops,
                    close_timeout=config.storage.close_timeout,
                )
            )
        kernel = self.kernel = await stack.enter_async_context(
            Kernel(config.kernel, clock=self._clock)
        )
        core = self._core = BrokerCore(
            clock=kernel.clock,
            writer=self.writer,
            dialect=self.engine.dialect.name if self.engine is not None else None,
            fallback=config.fallback,
            reference_timeout=config.broker.reference_timeout,
            stall_warning=config.gate.stall_warning,
            scheduled_page=config.broker.scheduled_page,
            max_parked=config.broker.max_parked,
            max_error_types=config.analytics.max_error_types,
        )
        if config.analytics.enabled:
            # The readings and unwritten deltas survive a restart of the recorder.
            state = self._analytics_state = AnalyticsState(
                core.counters, memory=self.engine is None
            )
            stores, analytics = (self.engine, self.writer), config.analytics
            await kernel.spawn(
                lambda: AnalyticsRecorder(state, analytics, engine=stores[0], writer=stores[1]),
                name="analytics",
                capacity=8,  # a tick that finds it full is skipped: the next one samples all
            )
        if config.gate.enabled:
            policy = RetryPolicy(config.retry)
            # The records, pending writes and decision counts survive a restart.
            gate_state = self._gate_state = GateState()
            db, writer, gate = self.engine, self.writer, config.gate
            self._gate = core.gate = await kernel.spawn(
                lambda: RetryGate(
                    policy,
                    engine=db,
                    writer=writer,
                    flush_interval=gate.flush_interval,
                    flush_rows=gate.flush_rows,
                    max_cached=gate.max_cached,
                    state=gate_state,
                    retention=gate.retention_seconds,
                    prune_interval=gate.prune_interval,
                ),
                name="retry-gate",
                capacity=100_000,
            )
        db, writer = self.engine, self.writer
        memory = MemoryDeadLetterStore(10_000) if db is None else None
        dlq = await kernel.spawn(
            lambda: DeadLetterQueue(
                engine=db,
                writer=writer,
                clock=kernel.clock,
                dispatch=core.dispatch,
                gate=self._gate,
                memory=memory,
                claim=core.claim,
                unclaim=core.unclaim,
            ),
            name="dead-letters",
            capacity=100_000,
        )
        core.dead_letters = dlq
        self._dead_letters = DeadLetters(dlq)
        if config.pattern.enabled:
            # Loaded only here: the engine brings numpy, hnswlib and the embedders with it.
            from ..patterns import PatternEngine

            pattern = config.pattern
            index_path = resolve_index_path(pattern, url)
            # Without a database the chunks cannot be read back: a restart resumes with them.
            kept = PatternState() if db is None else None
            counters = self._pattern_counters
            self._pattern = core.pattern = await kernel.spawn(
                lambda: PatternEngine(
                    pattern,
                    engine=db,
                    writer=writer,
                    index_path=index_path,
                    state=kept,
                    counters=counters,
                ),
                name="pattern-engine",
                capacity=pattern.mailbox_capacity,
                shutdown=_PATTERN_SHUTDOWN,
            )
        settings = config.broker
        self._broker = await kernel.spawn(
            lambda: Broker(
                core,
                engine=self.engine,
                retention=settings.retention_seconds,
                prune_interval=settings.prune_interval,
                barrier_timeout=settings.barrier_timeout,
            ),
            name="broker",
            capacity=settings.scheduler_capacity,
        )
        self._subs = await kernel.spawn_supervisor(
            "subscriptions", SupervisorSpec(intensity=20, period=60.0, stop_order="parallel")
        )
        self._scheduled = ScheduledReader(core, self.engine, self._record_of, config.retry)

    async def _record_of(self, target_type: str, target_id: str) -> RetryRecord | None:
        if self._gate is None:
            return None
        record: RetryRecord | None = await self._gate.ask(
            GetRecord(target_type, target_id), timeout=self.config.broker.control_timeout
        )
        return record

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        # However the block ended (normally, by an exception, by a cancellation), the stop is
        # the graceful one, run by the host, which the caller's cancellation cannot reach;
        # waiting for it is shielded and bounded (drain timeout plus close timeout).
        body, self._body = self._body, None
        if self._host is None or body is None:
            return None
        if self._state == "running":
            self._state = "stopping"  # intake from outside ends; handlers in flight go on
        self._stop_requested.set()
        try:
            with anyio.CancelScope(shield=True):
                await self._host_done.wait()
        finally:
            ours = bool(body.__exit__(exc_type, exc, tb))
            _log.info("runtime_stopped")
        failure = self._failure
        if failure is None:
            return ours  # True only for the cancellation that the host's _fail caused
        if exc is not None and not ours:
            return None  # the caller's own exception or cancellation wins; the failure is logged
        raise failure

    async def readiness(self) -> str | None:
        """Whether the runtime can take work: ``None`` when it is running, its tree is up
        and its database is reachable and migrated to the newest revision; otherwise what
        is wrong, in a sentence."""
        if self._state != "running" or self.kernel is None:
            return f"the runtime is {self._state}"
        if self.kernel.failure is not None:
            return f"the supervision tree failed: {self.kernel.failure}"
        down = [c.id for c in self.kernel.root.which_children() if not c.running]
        if down:
            return f"actors not running: {', '.join(down)}"
        if self.engine is not None:
            try:
                with anyio.fail_after(self.config.broker.barrier_timeout):
                    revision = await engine_revision(self.engine)
            except Exception as exc:
                return f"the database cannot be read: {type(exc).__name__}: {exc}"
            head = head_revision()
            if revision != head:
                return f"the database is at revision {revision}, not {head}: run the migrations"
        return None

    async def drain(self, timeout: float) -> bool:
        """Wait until nothing is in flight, up to ``timeout`` seconds: no publish in progress,
        no message queued at a worker or being handled, and everything submitted to the
        writer committed (what handlers published to durable topics included).

        Returns:
            Whether everything in flight finished in time.
        """
        core = self._core
        if core is None:
            return True
        with anyio.move_on_after(timeout):
            while core.publishing or core.queued() or core.running():  # noqa: ASYNC110
                await anyio.sleep(0.005)
            if self.writer is not None:
                await self.writer.flush()
            return True
        _log.warning(
            "drain_timeout",
            publishing=core.publishing,
            queued=core.queued(),
            running=core.running(),
        )
        return False

    def _running(self, action: str, *, stopping: bool = True) -> BrokerCore:
        """The broker core, if ``action`` may run now.

        While the runtime stops (the drain), handlers still in flight, and the tasks they
        started, may go on using it (``stopping``: publish above all); intake from outside
        a handler is refused from the moment the stop began.

        Raises:
            RuntimeClosed: otherwise.
        """
        core = self._core
        if core is not None and (
            self._state == "running"
            or (stopping and self._state == "stopping" and in_handler(core))
        ):
            return core
        raise RuntimeClosed(action)

    # -- topics and subscriptions ---------------------------------------------------------

    def topic(self, name: str) -> TopicSpec:
        """Return a declared topic's settings (name, durability, payload type).

        Raises:
            UnknownTopic: it was never declared. RuntimeClosed: not running.
        """
        return self._running("read a topic").topic(name)

    def declare_topic(self, name: str, *, durable: bool = True, payload_type: Any = None) -> None:
        """Declare a topic (again with the same settings is fine).

        Raises:
            InvalidArgument: a bad name, or a durable topic without a database.
            TopicConflict: it exists with other settings.
            RuntimeClosed: the runtime is not running.
        """
        self._running("declare a topic").declare(TopicSpec(name, durable, payload_type))

    async def subscribe(
        self,
        topic: str,
        handler: Handler,
        *,
        concurrency: int = 1,
        max_in_flight: int = 100,
        payload_type: Any = None,
        non_retryable: tuple[type[BaseException], ...] = (),
        error_policies: Mapping[type[BaseException], RetryPolicyConfig] | None = None,
    ) -> None:
        """Start ``concurrency`` workers running ``handler`` for ``topic``'s messages.

        Messages that waited for a subscription (durable rows, due retries) are delivered.

        Raises:
            UnknownTopic: the topic was never declared.
            TopicConflict: the topic already has a subscription.
            InvalidArgument: a bad option.
            RuntimeClosed: the runtime is not running.
        """
        core = self._running("subscribe", stopping=False)
        spec = Subscription(
            topic,
            handler,
            concurrency,
            max_in_flight,
            payload_type,
            tuple(non_retryable),
            dict(error_policies or {}),
        )
        topic_spec = core.topic(topic)
        if topic in core.subs or topic in self._changing:
            raise TopicConflict(topic, "already has a subscription")
        kind = payload_type if payload_type is not None else topic_spec.payload_type
        decoder = msgspec.msgpack.Decoder(kind) if kind is not None else msgspec.msgpack.Decoder()
        state = SubscriptionState(
            spec, handler, decoder.decode, WorkQueue(max_in_flight), core.counters_for(topic)
        )
        assert self._subs is not None
        assert self._broker is not None
        self._changing.add(topic)
        try:
            pool: Supervisor = await self._subs.start_child(
                ChildSpec(_pool_name(topic), _TOPIC_POOL)
            )
            for i in range(concurrency):
                ref = await pool.start_child(
                    ChildSpec(
                        f"sub:{topic}:{i}",
                        lambda: SubscriptionWorker(core, state),
                        capacity=1,  # the one delivery it is about to handle
                        shutdown=_WORKER_GRACE,
                    )
                )
                state.workers.append(ref)
            core.subs[topic] = state
            core.loading[topic] = set()  # from here on, memory dispatches are not loaded again
            await core.unpark(topic)
            await self._broker.ask(Subscribed(topic), timeout=None)
        except BaseException:
            # Part-way: take down what was started, and keep what it was handed.
            with anyio.CancelScope(shield=True):
                await self._take_down(topic, state, timeout=0.0)
            raise
        finally:
            self._changing.discard(topic)

    async def unsubscribe(self, topic: str, *, timeout: float | None = None) -> None:
        """Stop ``topic``'s subscription; ``subscribe`` may be called for it again later.

        Nothing more is handed to its workers. Handlers in flight get up to ``timeout``
        seconds (default ``broker.drain_timeout``) to finish, then the workers stop. What
        was waiting for them stays: durable messages in their rows (the next subscription
        delivers them), retries parked in memory for the next subscription (see
        ``broker.max_parked``). A transient topic refuses publishes until then
        (``NoSubscriber``).

        Raises:
            NoSubscriber: the topic has no subscription.
            RuntimeClosed: the runtime is not running.
        """
        core = self._running("unsubscribe")
        state = core.subs.get(topic)
        if state is None or topic in self._changing:
            raise NoSubscriber(topic)
        self._changing.add(topic)
        try:
            wait = self.config.broker.drain_timeout if timeout is None else timeout
            await self._take_down(topic, state, timeout=wait)
        finally:
            self._changing.discard(topic)

    async def _take_down(self, topic: str, state: SubscriptionState, *, timeout: float) -> None:
        core = self._core
        assert core is not None
        assert self._subs is not None
        if core.subs.get(topic) is state:
            del core.subs[topic]
        state.queue.close()
        with anyio.move_on_after(timeout):
            while state.running:  # noqa: ASYNC110 - polled counter, like drain()
                await anyio.sleep(0.005)
        with contextlib.suppress(LookupError):  # the topic's supervisor stops its workers
            await self._subs.terminate_child(_pool_name(topic))
        for d in state.queue.drain():  # queued, and put back by the stopping workers
            core.park(d)
        _log.info("unsubscribed", topic=topic, running=state.running)

    # -- publishing ---------------------------------------------------------------------

    async def publish(
        self,
        topic: str,
        payload: object,
        *,
        target: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Publish one message; returns its id once it is stored (durable: committed).

        Waits while the topic's workers are full. A durable publish cancelled while it
        waits (a caller's timeout) is either not published at all (cancelled before its row
        was submitted) or published whole: committed and dispatched, the cancellation
        delivered after. A caller that retries after a timeout may therefore publish a
        second copy; give messages a target or an idempotent handler when that matters.

        Raises:
            UnknownTopic, InvalidPayload, InvalidTarget, InvalidArgument, NoSubscriber,
            RuntimeClosed.
        """
        core = self._running("publish")
        d = core.build(topic, payload, target, headers)
        await core.publish_one(d)
        return d.id

    def publish_nowait(
        self,
        topic: str,
        payload: object,
        *,
        target: tuple[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PublishReceipt:
        """Publish without waiting; a durable row is submitted, not yet committed.

        Returns:
            A receipt with the message's id; await ``receipt.wait()`` (or check ``done`` and
            ``error``) to learn that the row is committed, or was rejected.

        Raises:
            BrokerFull: the topic's queue or the database writer is full (nothing stored).
            UnknownTopic, InvalidPayload, InvalidTarget, InvalidArgument, NoSubscriber,
            RuntimeClosed.
        """
        core = self._running("publish")
        return core.publish_nowait(core.build(topic, payload, target, headers))

    async def publish_batch(
        self,
        topic: str,
        payloads: Sequence[object],
        *,
        targets: Sequence[tuple[str, str] | None] | None = None,
        headers: Mapping[str, str] | Sequence[Mapping[str, str] | None] | None = None,
    ) -> list[str]:
        """Publish many messages in one transaction; all are validated before any is stored.

        ``headers`` is one mapping for every message, or one (or ``None``) per message.

        Raises:
            InvalidArgument: ``targets`` or a sequence of ``headers`` does not match
                ``payloads`` in length.
            UnknownTopic, InvalidPayload, InvalidTarget, NoSubscriber, RuntimeClosed.
        """
        core = self._running("publish")
        if targets is not None and len(targets) != len(payloads):
            raise InvalidArgument("targets", len(targets), f"{len(payloads)} targets")
        each: Sequence[Mapping[str, str] | None]
        if headers is None or isinstance(headers, Mapping):
            each = [headers] * len(payloads)
        else:
            each = headers
            if len(each) != len(payloads):
                raise InvalidArgument("headers", len(each), f"{len(payloads)} header maps")
        built = [
            core.build(topic, p, targets[i] if targets is not None else None, each[i])
            for i, p in enumerate(payloads)
        ]
        await core.publish(built)
        return [d.id for d in built]

    # -- retries ------------------------------------------------------------------------

    async def request_early_retry(self, target_type: str, target_id: str) -> EarlyRetryResult:
        """Ask for the explicit early retry of the target's scheduled message.

        Raises:
            InvalidTarget: a bad key. RuntimeClosed: not running.
        """
        self._running("request an early retry")
        validate_target(target_type, target_id)
        assert self._broker is not None
        result: EarlyRetryResult = await self._broker.ask(
            RequestEarlyRetry(target_type, target_id), timeout=self.config.broker.control_timeout
        )
        return result

    async def retry_record(self, target_type: str, target_id: str) -> RetryRecord | None:
        """Return a copy of the target's retry record (``None`` without one or without a gate)."""
        self._running("read a retry record")
        validate_target(target_type, target_id)
        if self._gate is None:
            return None
        await self._failures_sent()
        record: RetryRecord | None = await self._gate.ask(
            GetRecord(target_type, target_id), timeout=self.config.broker.control_timeout
        )
        return record

    async def reset_retry(self, target_type: str, target_id: str) -> None:
        """Clear the target's retry record: its next attempt starts a fresh cycle."""
        self._running("reset a retry record")
        validate_target(target_type, target_id)
        if self._gate is not None:
            await self._failures_sent()
            await self._gate.ask(
                ResetTarget(target_type, target_id), timeout=self.config.broker.control_timeout
            )

    async def _failures_sent(self) -> None:
        """Send the handler failures still gathered for the gate (``BrokerCore.failures``),
        so a request of the caller's is answered after them, as they happened before it."""
        if self._core is not None and self._core.failures.pending:
            await self._core.failures.sent()

    async def flush(self) -> None:
        """Commit everything pending now: the gate's write-behind, the pattern engine's
        buffered failures, then the writer."""
        self._running("flush")
        if self._gate is not None:
            await self._failures_sent()
            await self._gate.ask(FlushGate(), timeout=2 * self.config.broker.control_timeout)
        if self._pattern is not None:
            await self._pattern.ask(FlushPattern(), timeout=2 * self.config.broker.control_timeout)
        if self.writer is not None:
            await self.writer.flush()

    @property
    def dead_letters(self) -> DeadLetters:
        """List, show, count, replay and purge dead letters.

        Raises:
            RuntimeClosed: the runtime is not running.
        """
        self._running("use the dead-letter queue")
        assert self._dead_letters is not None
        return self._dead_letters

    def statistics(self) -> BrokerStatistics:
        """Return the broker's counters."""
        return self._running("read statistics").statistics()
