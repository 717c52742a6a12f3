"""The retry gate: the one owner of retry records, answering from memory, writing behind.

The gate holds the records of the targets it has seen in memory and answers every request
from there: a decision never waits for the database. The first time a key is seen in an
incarnation, the gate reads that one record (one select by the unique key) and remembers
the answer, including "no record" (the negative cache). When the table was empty at start,
every key the gate has not created itself is known to be absent and nothing is read.

Changed records are written behind: they are marked dirty and handed to the group-commit
:class:`~actorgrid.storage.Writer` every ``flush_interval`` seconds, or as soon as
``flush_rows`` are dirty, with ``submit`` (which never waits). Every row goes through the
version-guarded upsert, so an older write can never replace a newer one.

Invariants:

* Only the gate's own task touches its state; the flush timer only sends it a message.
* A record is evictable only when its cycle has ended (``attempt_count == 0``) and its last
  change is committed: dirty and in-flight records stay, so a reload never reads a stale row.
* A reset clears the record and bumps its version instead of deleting the row, so a stale
  write still on its way (a caller's transaction carrying an older row) cannot bring the old
  state back.
* Rows are deleted only by the gate's pruner (:mod:`._prune`): finished targets' rows after
  the retention, never a record with a change on its way, never an active window.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Final, TypeVar

import msgspec
from sqlalchemy import bindparam, select

from actorgrid.kernel import Actor, OneShotTimer, UnhandledMessage, send_every
from actorgrid.storage import Base, read_connection

from ._gate_cache import UNKNOWN, RecordCache
from ._gate_state import GateState
from ._messages import (
    CanRetry,
    CanRetryBatch,
    FailureOutcome,
    FlushGate,
    GateStats,
    GetRecord,
    RecordFailure,
    RecordFailureBatch,
    RecordSuccess,
    ResetTarget,
    RetryGateMessage,
    RetryGateStatistics,
    Submitted,
)
from ._policy import Decision, RetryPolicy, RetryPolicyConfig, RetryRecord
from ._prune import PRUNE, PruneRecords, RecordPruner, check_retention
from ._store import record_to_row, retry_record_upsert, row_to_record
from ._writeback import FLUSH, Flush, WriteBehind

if TYPE_CHECKING:
    from collections.abc import Callable

    import anyio
    from sqlalchemy.ext.asyncio import AsyncEngine

    from actorgrid.storage import Writer

__all__ = ("RetryGate",)

_TABLE: Final = Base.metadata.tables["retry_records"]
_SELECT: Final = select(_TABLE).where(
    _TABLE.c.target_type == bindparam("target_type"),
    _TABLE.c.target_id == bindparam("target_id"),
)
_PROBE: Final = select(_TABLE.c.id).limit(1)


R = TypeVar("R", CanRetry, RecordFailure)
A = TypeVar("A")

_MAX_POLICIES: Final = 256


def _check(name: str, value: object, *, integer: bool) -> None:
    ok = (
        not isinstance(value, bool)
        and isinstance(value, int if integer else (int, float))
        and math.isfinite(value)
        and value > 0
    )
    if not ok:
        kind = "an int >= 1" if integer else "a finite number of seconds > 0"
        raise ValueError(f"RetryGate: {name} must be {kind}, got {value!r}")


class RetryGate(Actor[RetryGateMessage]):
    """The retry-gate actor; spawn it with a factory: ``lambda: RetryGate(config, ...)``.

    Each (re)start builds a fresh instance. Given a ``state`` shared by every incarnation
    (the runtime does this), a restarted gate resumes with the records and the uncommitted
    changes of the one before, so its decisions after a crash are the ones it would have
    made without it; without one, a restart reloads from the database what it needs (and
    a gate without a database forgets everything). Stopping flushes every change and
    waits for the commit; crashing with a shared ``state`` hands the changes to the writer
    and leaves the rest (held records, the wait) to the next incarnation. A hard crash
    loses at most the changes of the last ``flush_interval`` that no caller committed
    itself.

    Args:
        policy: the retry policy (a :class:`RetryPolicy` is shared across incarnations, with
            its budget; a config gets a fresh policy per incarnation).
        engine: where records are read from; ``None`` (with ``writer=None``) keeps the gate
            purely in memory. The ``retry_records`` table must exist.
        writer: the group-commit writer that changed records are written behind through. It
            must outlive the gate (stop the kernel before closing it).
        flush_interval: seconds between write-behind flushes (of the kernel's clock).
        flush_rows: flush at once when this many records are dirty.
        max_cached: records kept in memory before clean records of ended cycles are evicted
            (least recently used first); also the size of the negative cache.
        state: what the gate keeps across incarnations; create it once outside the actor's
            factory and pass it to every incarnation.
        retention: seconds after its last change that the row of a finished target (its
            cycle ended, or it ran out of retries) is deleted, unless a ready or scheduled
            message of the target is left; ``None`` keeps every row.
        prune_interval: seconds between passes of the prune (with ``retention``).

    Raises:
        TypeError: ``policy`` is neither a :class:`RetryPolicy` nor a
            :class:`RetryPolicyConfig`.
        ValueError: only one of ``engine`` and ``writer`` is given, or a number is out of
            range.
    """

    def __init__(
        self,
        policy: RetryPolicy | RetryPolicyConfig,
        *,
        engine: AsyncEngine | None,
        writer: Writer | None,
        flush_interval: float = 0.05,
        flush_rows: int = 1000,
        max_cached: int = 100_000,
        state: GateState | None = None,
        retention: float | None = None,
        prune_interval: float = 300.0,
    ) -> None:
        if isinstance(policy, RetryPolicyConfig):
            policy = RetryPolicy(policy)
        if not isinstance(policy, RetryPolicy):
            raise TypeError(
                f"RetryGate: policy must be a RetryPolicy or RetryPolicyConfig, "
                f"got {type(policy).__name__}"
            )
        if (engine is None) != (writer is None):
            raise ValueError("RetryGate: give both engine and writer, or neither (in memory)")
        _check("flush_interval", flush_interval, integer=False)
        _check("flush_rows", flush_rows, integer=True)
        _check("max_cached", max_cached, integer=True)
        _check("prune_interval", prune_interval, integer=False)
        check_retention(retention)
        self._policy = policy
        self._decide = policy.decide
        self._record = policy.record_attempt
        self._engine = engine
        self._writer = writer
        self._upsert = None if engine is None else retry_record_upsert(engine.dialect.name)
        self._flush_interval = float(flush_interval)
        self._flush_rows = flush_rows
        self._shared = state is not None
        self._state = state if state is not None else GateState()
        cache = self._state.cache
        if cache is None:
            # With no database, or an empty table at start, an unknown key has no record.
            cache = self._state.cache = RecordCache(
                max_cached,
                all_absent=engine is None,
                persistent=engine is not None,
                exhausted=self._exhausted,
            )
        self._cache = cache
        self._counts = self._state.decisions
        self._retention, self._prune_interval = retention, float(prune_interval)
        self._pruner: RecordPruner | None = None
        self._wb: WriteBehind | None = None
        self._crashed = False
        self._policies: dict[RetryPolicyConfig, RetryPolicyConfig] = {}
        self._timer = OneShotTimer(FLUSH)
        self._timer_scope: anyio.CancelScope | None = None
        self._now = _unbound_now
        self._loads = self._decisions = self._failures = self._successes = 0
        self._resets = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Bind the clock; take over the write-behind of the incarnation before, or else
        wait for earlier writes to commit and probe the table; arm the timer.

        Raises:
            Exception: the database cannot be read (the start fails).
        """
        self._now = self.actor_clock.now
        if self._writer is None:
            return
        wb = self._state.write_behind
        if wb is not None:  # a restart: resume with what the crashed incarnation left
            wb.attach(self._timer.arm)
        else:
            assert self._upsert is not None
            wb = WriteBehind(
                self._writer,
                self._upsert,
                self._flush_rows,
                self._now,
                self._timer.arm,
                self.actor_name,
            )
            # A previous incarnation's last flush may still be committing: read after it.
            await self._writer.flush()
            assert self._engine is not None
            async with read_connection(self._engine) as conn:
                empty = (await conn.execute(_PROBE)).first() is None
            self._cache.all_absent = empty
            self._cache.write_behind = wb
            self._state.write_behind = wb
        self._wb = wb
        self._timer_scope = self.actor_start_task(
            self._timer.run,
            self.actor_ref,
            self.actor_clock,
            self._flush_interval,
            name=f"{self.actor_name}:flush-timer",
        )
        if wb.dirty or wb.in_flight:
            self._timer.arm()  # what the crashed incarnation left is written behind too
        if self._retention is not None:
            assert self._engine is not None
            self._pruner = RecordPruner(
                self._engine, self._writer, self._cache, self._wb, self._retention, self._finished
            )
            interval, name = self._prune_interval, f"{self.actor_name}:prune-timer"
            ref, clock = self.actor_ref, self.actor_clock
            self.actor_start_task(send_every, ref, clock, interval, PRUNE, name=name)

    async def on_failure(self, exc: Exception, message: object | None) -> None:
        """Note the crash: :meth:`on_stop` then leaves the rest to the next incarnation."""
        self._crashed = True

    async def on_stop(self) -> None:
        """Flush every change and wait for the writer to commit it.

        After a crash with a shared ``state``, only hand the unheld changes to the writer:
        the next incarnation keeps the holds and the receipts, and the restart does not
        wait for the database.
        """
        if self._timer_scope is not None:
            self._timer_scope.cancel()  # this flush is the last one
        if self._wb is None:
            return
        if self._crashed and self._shared:
            self._wb.flush()
            return
        await self._wb.flush_and_wait()

    # -- dispatch -------------------------------------------------------------------------

    async def receive(self, message: RetryGateMessage | Flush | PruneRecords) -> Any:
        """Handle one request; see :mod:`actorgrid.actors._retry_gate_messages` for replies.

        Raises:
            InvalidTarget: for a bad key (nothing changes).
            StorageError: :class:`FlushGate` could not get every change committed.
            UnhandledMessage: for a message that is not part of the protocol.
        """
        cls = type(message)
        if cls is CanRetry or cls is RecordFailure or cls is RecordSuccess:
            msg: CanRetry | RecordFailure | RecordSuccess = message  # type: ignore[assignment]
            record = self._cache.get(msg.target_type, msg.target_id)
            if record is UNKNOWN:
                record = await self._load((msg.target_type, msg.target_id))
            if type(msg) is CanRetry:
                return self._can_retry(record, msg.explicit)
            if type(msg) is RecordFailure:
                return self._record_failure(msg, record)
            return self._record_success(msg, record)  # type: ignore[arg-type]
        if cls is RecordFailureBatch:
            batch: RecordFailureBatch = message  # type: ignore[assignment]
            return await self._each(batch.requests, self._record_failure)
        if cls is CanRetryBatch:
            asks: CanRetryBatch = message  # type: ignore[assignment]
            return await self._each(asks.requests, self._can_retry_request)
        if cls is Flush:
            if self._wb is not None:
                self._wb.flush()
                self._wb.reap()
            self._cache.evict_if_over()
            if self._pruner is not None and self._pruner.running:
                await self._prune_step()
            return None
        match message:
            case PruneRecords():
                if self._pruner is not None:
                    self._pruner.begin(self._now())
                    await self._prune_step()
                return None
            case Submitted(target_type, target_id):
                found = self._cache.get(target_type, target_id)
                if self._wb is not None and isinstance(found, RetryRecord):
                    self._wb.release(found)
                return None
            case ResetTarget(target_type, target_id):
                self._reset(await self._lookup(target_type, target_id))
                return None
            case GetRecord(target_type, target_id):
                found = await self._lookup(target_type, target_id)
                return None if found is None else msgspec.structs.replace(found)
            case FlushGate():
                if self._wb is not None:
                    await self._wb.flush_and_wait()
                return None
            case GateStats():
                if self._wb is not None:
                    self._wb.reap()
                return self._statistics()
        raise UnhandledMessage(self.actor_name, message)

    # -- requests (the record is already in memory, or None: the key has no record) ------

    async def _each(
        self,
        requests: tuple[R, ...],
        answer: Callable[[R, RetryRecord | None], A],
    ) -> tuple[A | Exception, ...]:
        """Answer each of a batch's ``requests`` in turn, as if asked alone; a failing one (a
        bad key, a record that could not be loaded) answers with its exception."""
        replies: list[A | Exception] = []
        get = self._cache.get
        for msg in requests:
            try:
                record = get(msg.target_type, msg.target_id)
                if record is UNKNOWN:
                    record = await self._load((msg.target_type, msg.target_id))
                replies.append(answer(msg, record))
            except Exception as exc:
                replies.append(exc)
        return tuple(replies)

    def _can_retry_request(self, msg: CanRetry, record: RetryRecord | None) -> Decision:
        return self._can_retry(record, msg.explicit)

    def _can_retry(self, record: RetryRecord | None, explicit: bool) -> Decision:
        self._decisions += 1
        if record is None:
            decision = self._decide(None, self._now(), explicit)
        else:
            version = record.version
            decision = self._decide(record, self._now(), explicit)
            if record.version != version:
                self._mark(record)
        self._count(decision)
        return decision

    def _count(self, decision: Decision) -> None:
        key = (decision.allowed, decision.reason)
        counts = self._counts
        counts[key] = counts.get(key, 0) + 1

    def _record_failure(self, msg: RecordFailure, record: RetryRecord | None) -> FailureOutcome:
        if record is None:
            record = self._cache.create(msg.target_type, msg.target_id)
        now = self._now()
        policy = self._policy
        override = msg.policy
        if override is not None and record.attempt_count == 0:
            override = self._shared_policy(override)
            current, policy.config = policy.config, override  # snapshotted by this new cycle
            try:
                self._record(record, now, False)
            finally:
                policy.config = current
        else:
            self._record(record, now, False)
        self._failures += 1
        # A forecast for the broker's schedule: the redelivery's CanRetry takes the budget
        # slot, so this one must not (with base_wait 0 the window is already open).
        decision = self._decide(record, now, grant=False)
        early = None
        if msg.explicit and decision.phase != "exhausted":
            early = self._decide(record, now, True)
            self._count(early)
        self._mark(record, hold=msg.caller_writes)
        return FailureOutcome(decision, record_to_row(record, now), early)

    def _shared_policy(self, config: RetryPolicyConfig) -> RetryPolicyConfig:
        """Return one shared object per distinct policy (records keep a reference to it)."""
        shared = self._policies.get(config)
        if shared is None:
            if len(self._policies) >= _MAX_POLICIES:
                self._policies.clear()
            shared = self._policies[config] = config
        return shared

    def _record_success(
        self, msg: RecordSuccess, record: RetryRecord | None
    ) -> dict[str, Any] | None:
        if record is None:
            return None
        now = self._now()
        self._record(record, now, True)
        self._successes += 1
        self._mark(record, hold=msg.caller_writes)
        return record_to_row(record, now)

    def _reset(self, record: RetryRecord | None) -> None:
        if record is None:
            return
        record.attempt_count = 0
        record.early_retry_used = False
        record.last_attempt_at = None
        record.last_success_at = None
        record.next_allowed_at = None
        record.last_explicit_early_granted_at = None
        record.policy = None
        record.version += 1
        self._resets += 1
        self._mark(record)

    # -- the cache ------------------------------------------------------------------------

    async def _lookup(self, target_type: str, target_id: str) -> RetryRecord | None:
        """Return the key's record from memory, or read it once; ``None``: it has none."""
        record = self._cache.get(target_type, target_id)
        if record is UNKNOWN:
            return await self._load((target_type, target_id))
        result: RetryRecord | None = record
        return result

    async def _load(self, key: tuple[str, str]) -> RetryRecord | None:
        self._loads += 1
        assert self._engine is not None
        # A pooled connection per read: nothing stays open if the gate is cancelled.
        async with read_connection(self._engine) as conn:
            result = await conn.execute(_SELECT, {"target_type": key[0], "target_id": key[1]})
            row = result.mappings().first()
        if row is None:
            self._cache.add_absent(key)
            return None
        return self._cache.add_loaded(row_to_record(row))

    def _mark(self, record: RetryRecord, *, hold: bool = False) -> None:
        if self._wb is not None:
            if hold:
                self._wb.hold(record)
            else:
                self._wb.mark(record)

    # -- helpers --------------------------------------------------------------------------

    def _exhausted(self, record: RetryRecord) -> bool:
        return record.attempt_count > (record.policy or self._policy.config).max_retries

    def _finished(self, record: RetryRecord) -> bool:
        return record.attempt_count == 0 or self._exhausted(record)

    async def _prune_step(self) -> None:
        assert self._pruner is not None
        await self._pruner.step()
        if self._pruner.running:
            self._timer.arm()  # the next batch goes on a flush tick

    def _statistics(self) -> RetryGateStatistics:
        wb = self._wb
        return RetryGateStatistics(
            cached=self._cache.count,
            absent=self._cache.absent_count,
            dirty=0 if wb is None else len(wb.dirty),
            in_flight=0 if wb is None else len(wb.in_flight),
            loads=self._loads,
            flushes=0 if wb is None else wb.flushes,
            rows_flushed=0 if wb is None else wb.rows_flushed,
            decisions=self._decisions,
            failures=self._failures,
            successes=self._successes,
            resets=self._resets,
            evictions=self._cache.evictions,
            write_errors=0 if wb is None else wb.write_errors,
            pruned=0 if self._pruner is None else self._pruner.pruned,
        )


def _unbound_now() -> float:
    raise RuntimeError("the retry gate has not started")
