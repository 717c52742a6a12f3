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
"""

from __future__ import annotations

import math
import sys
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any, Final, final

import anyio
import msgspec
import structlog
from sqlalchemy import bindparam, select

from actorgrid.kernel import Actor, ActorDeadError, MailboxFull, Message, UnhandledMessage
from actorgrid.storage import KEY_MAX_LENGTH, Base, Op, StorageError

# The protocol is re-exported here too: importing the gate module gives its whole protocol.
from ._retry_gate_messages import CanRetry as CanRetry
from ._retry_gate_messages import FailureOutcome as FailureOutcome
from ._retry_gate_messages import FlushGate as FlushGate
from ._retry_gate_messages import GateStats as GateStats
from ._retry_gate_messages import GetRecord as GetRecord
from ._retry_gate_messages import RecordFailure as RecordFailure
from ._retry_gate_messages import RecordSuccess as RecordSuccess
from ._retry_gate_messages import ResetTarget as ResetTarget
from ._retry_gate_messages import RetryGateMessage as RetryGateMessage
from ._retry_gate_messages import RetryGateStatistics as RetryGateStatistics
from ._retry_policy import Decision, RetryPolicy, RetryPolicyConfig, RetryRecord, validate_target
from ._retry_store import record_to_row, retry_record_upsert, row_to_record

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from actorgrid.kernel import ActorRef, Clock
    from actorgrid.storage import Receipt, Writer

__all__ = (
    "CanRetry",
    "FailureOutcome",
    "FlushGate",
    "GateStats",
    "GetRecord",
    "RecordFailure",
    "RecordSuccess",
    "ResetTarget",
    "RetryGate",
    "RetryGateMessage",
    "RetryGateStatistics",
)

_log = structlog.get_logger("actorgrid.actors.retry_gate")

_TABLE: Final = Base.metadata.tables["retry_records"]
_SELECT: Final = select(_TABLE).where(
    _TABLE.c.target_type == bindparam("target_type"),
    _TABLE.c.target_id == bindparam("target_id"),
)
_PROBE: Final = select(_TABLE.c.id).limit(1)


class _Flush(Message, frozen=True):
    """Sent by the gate's timer to itself: hand the dirty records to the writer."""


_FLUSH: Final = _Flush()
_MAX_POLICIES: Final = 256
_UNKNOWN: Final[Any] = object()


@final
class _FlushTimer:
    """Sends ``_Flush`` once per interval while armed; the gate arms it when a record gets dirty."""

    __slots__ = ("_armed", "_event")

    def __init__(self) -> None:
        self._armed = False
        self._event = anyio.Event()

    def arm(self) -> None:
        if not self._armed:
            self._armed = True
            self._event.set()

    async def run(self, ref: ActorRef[Any], clock: Clock, interval: float) -> None:
        while True:
            await self._event.wait()
            await clock.sleep(interval)
            self._event = anyio.Event()
            self._armed = False
            try:
                ref.tell_nowait(_FLUSH)
            except MailboxFull:
                self.arm()  # the mailbox is busy: try again one interval later
            except ActorDeadError:
                return


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

    Each (re)start builds a fresh instance that reloads from the database what it needs.
    Stopping (or crashing) flushes every change and waits for the commit. A hard crash loses
    at most the changes of the last ``flush_interval`` that no caller committed itself.

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
        self._policy = policy
        self._decide = policy.decide
        self._record = policy.record_attempt
        self._engine = engine
        self._writer = writer
        self._upsert = None if engine is None else retry_record_upsert(engine.dialect.name)
        self._flush_interval = float(flush_interval)
        self._flush_rows = flush_rows
        self._max_cached = max_cached
        self._evict_above = max_cached
        self._by_type: dict[str, OrderedDict[str, RetryRecord]] = {}
        self._count = 0
        self._absent: OrderedDict[tuple[str, str], None] = OrderedDict()
        # With no database, or an empty table at start, an unknown key has no record.
        self._all_absent = engine is None
        self._dirty: dict[int, RetryRecord] = {}
        self._in_flight: dict[int, Receipt] = {}
        self._receipts: deque[tuple[Receipt, list[RetryRecord]]] = deque()
        self._reader: AsyncConnection | None = None
        self._policies: dict[RetryPolicyConfig, RetryPolicyConfig] = {}
        self._timer = _FlushTimer()
        self._timer_scope: anyio.CancelScope | None = None
        self._now = _unbound_now
        self._loads = self._flushes = self._rows_flushed = self._decisions = 0
        self._failures = self._successes = self._resets = 0
        self._evictions = self._write_errors = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def on_start(self) -> None:
        """Bind the clock; wait for earlier writes to commit; probe the table; arm the timer.

        Raises:
            Exception: the database cannot be read (the start fails).
        """
        self._now = self.actor_clock.now
        if self._writer is None:
            return
        # A previous incarnation's last flush may still be committing: read after it.
        await self._writer.flush()
        conn = await self._connection()
        try:
            empty = (await conn.execute(_PROBE)).first() is None
            await conn.rollback()
        except Exception:
            await self._close_reader()
            raise
        self._all_absent = empty
        self._timer_scope = self.actor_start_task(
            self._timer.run,
            self.actor_ref,
            self.actor_clock,
            self._flush_interval,
            name=f"{self.actor_name}:flush-timer",
        )

    async def on_stop(self) -> None:
        """Flush every change and wait for the writer to commit it; close the read connection."""
        if self._timer_scope is not None:
            self._timer_scope.cancel()  # this flush is the last one
        try:
            if self._writer is not None:
                await self._flush_and_wait()
        finally:
            await self._close_reader()

    # -- dispatch -------------------------------------------------------------------------

    async def receive(self, message: RetryGateMessage | _Flush) -> Any:
        """Handle one request; see :mod:`actorgrid.actors._retry_gate_messages` for replies.

        Raises:
            InvalidTarget: for a bad key (nothing changes).
            StorageError: :class:`FlushGate` could not get every change committed.
            UnhandledMessage: for a message that is not part of the protocol.
        """
        cls = type(message)
        if cls is CanRetry or cls is RecordFailure or cls is RecordSuccess:
            msg: CanRetry | RecordFailure | RecordSuccess = message  # type: ignore[assignment]
            record = self._cached(msg.target_type, msg.target_id)
            if record is _UNKNOWN:
                record = await self._load((msg.target_type, msg.target_id))
            if type(msg) is CanRetry:
                return self._can_retry(record, msg.explicit)
            if type(msg) is RecordFailure:
                return self._record_failure(msg, record)
            return self._record_success(record)
        if cls is _Flush:
            self._flush()
            self._reap()
            if self._count > self._evict_above:
                self._evict()
            return None
        match message:
            case ResetTarget(target_type, target_id):
                self._reset(await self._lookup(target_type, target_id))
                return None
            case GetRecord(target_type, target_id):
                found = await self._lookup(target_type, target_id)
                return None if found is None else msgspec.structs.replace(found)
            case FlushGate():
                await self._flush_and_wait()
                return None
            case GateStats():
                self._reap()
                return self._statistics()
        raise UnhandledMessage(self.actor_name, message)

    # -- requests (the record is already in memory, or None: the key has no record) ------

    def _can_retry(self, record: RetryRecord | None, explicit: bool) -> Decision:
        self._decisions += 1
        if record is None:
            return self._decide(None, self._now(), explicit)
        version = record.version
        decision = self._decide(record, self._now(), explicit)
        if record.version != version:
            self._mark(record)
        return decision

    def _record_failure(self, msg: RecordFailure, record: RetryRecord | None) -> FailureOutcome:
        if record is None:
            record = self._create(msg.target_type, msg.target_id)
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
        self._mark(record)
        return FailureOutcome(self._decide(record, now), record_to_row(record, now))

    def _shared_policy(self, config: RetryPolicyConfig) -> RetryPolicyConfig:
        """Return one shared object per distinct policy (records keep a reference to it)."""
        shared = self._policies.get(config)
        if shared is None:
            if len(self._policies) >= _MAX_POLICIES:
                self._policies.clear()
            shared = self._policies[config] = config
        return shared

    def _record_success(self, record: RetryRecord | None) -> dict[str, Any] | None:
        if record is None:
            return None
        now = self._now()
        self._record(record, now, True)
        self._successes += 1
        self._mark(record)
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

    def _cached(self, target_type: str, target_id: str) -> Any:
        """Return the key's record or ``None`` (no record) from memory, else ``_UNKNOWN``.

        Raises:
            InvalidTarget: for a bad key.
        """
        if not (
            type(target_type) is str
            and type(target_id) is str
            and 0 < len(target_type) <= KEY_MAX_LENGTH
            and 0 < len(target_id) <= KEY_MAX_LENGTH
        ):
            validate_target(target_type, target_id)
        inner = self._by_type.get(target_type)
        if inner is not None:
            record = inner.get(target_id)
            if record is not None:
                inner.move_to_end(target_id)
                return record
        if self._all_absent or (target_type, target_id) in self._absent:
            return None
        return _UNKNOWN

    async def _lookup(self, target_type: str, target_id: str) -> RetryRecord | None:
        """Return the key's record from memory, or read it once; ``None``: it has none."""
        record = self._cached(target_type, target_id)
        if record is _UNKNOWN:
            return await self._load((target_type, target_id))
        result: RetryRecord | None = record
        return result

    async def _load(self, key: tuple[str, str]) -> RetryRecord | None:
        self._loads += 1
        conn = await self._connection()
        try:
            result = await conn.execute(_SELECT, {"target_type": key[0], "target_id": key[1]})
            row = result.mappings().first()
            await conn.rollback()  # end the read transaction: never pin an old snapshot
        except Exception:
            await self._close_reader()
            raise
        if row is None:
            absent = self._absent
            absent[key] = None
            if len(absent) > self._max_cached:
                absent.popitem(last=False)
            return None
        record = row_to_record(row)
        record.target_type = sys.intern(record.target_type)
        self._insert(record)
        return record

    def _create(self, target_type: str, target_id: str) -> RetryRecord:
        if type(target_type) is not str or type(target_id) is not str:
            target_type, target_id = str(target_type), str(target_id)
        record = RetryRecord(sys.intern(target_type), target_id)
        self._absent.pop((target_type, target_id), None)
        self._insert(record)
        return record

    def _insert(self, record: RetryRecord) -> None:
        # Evict first: the record being inserted is about to be used and must stay.
        if self._count >= self._evict_above:
            self._evict(room=1)
        inner = self._by_type.get(record.target_type)
        if inner is None:
            inner = self._by_type[record.target_type] = OrderedDict()
        inner[record.target_id] = record
        self._count += 1

    def _evict(self, room: int = 0) -> None:
        """Drop least recently used evictable records until ``max_cached - room`` remain."""
        self._reap()
        excess = self._count + room - self._max_cached
        dirty, in_flight = self._dirty, self._in_flight
        for target_type, inner in list(self._by_type.items()):
            if excess <= 0:
                break
            victims: list[str] = []
            kept: list[str] = []
            for target_id, record in inner.items():
                key = id(record)
                if record.attempt_count == 0 and key not in dirty and key not in in_flight:
                    victims.append(target_id)
                    excess -= 1
                    if excess <= 0:
                        break
                else:
                    kept.append(target_id)
            for target_id in victims:
                del inner[target_id]
            for target_id in kept:  # busy records go to the back: the next scan skips them
                inner.move_to_end(target_id)
            if not inner:
                del self._by_type[target_type]
            self._count -= len(victims)
            self._evictions += len(victims)
        if self._evictions and self._engine is not None:
            self._all_absent = False  # an evicted key has a row: unknown keys must be read
        # When busy records fill the cache, allow some growth before scanning again.
        over = self._count + room > self._max_cached
        self._evict_above = self._count + self._max_cached // 8 + 1 if over else self._max_cached

    # -- write-behind ---------------------------------------------------------------------

    def _mark(self, record: RetryRecord) -> None:
        if self._writer is None:
            return
        dirty = self._dirty
        if not dirty:
            self._timer.arm()
        dirty[id(record)] = record
        if len(dirty) >= self._flush_rows:
            self._flush()

    def _flush(self) -> StorageError | None:
        """Hand every dirty record to the writer (never waits); return a submit error."""
        dirty = self._dirty
        writer = self._writer
        if not dirty or writer is None:
            return None
        now = self._now()
        upsert = self._upsert
        assert upsert is not None
        records = list(dirty.values())
        try:
            receipt = writer.submit(*[Op(upsert, record_to_row(r, now)) for r in records])
        except StorageError as exc:
            _log.error(
                "retry_gate_flush_failed", actor=self.actor_name, rows=len(records), error=str(exc)
            )
            return exc
        dirty.clear()
        in_flight = self._in_flight
        for record in records:
            in_flight[id(record)] = receipt
        self._receipts.append((receipt, records))
        self._flushes += 1
        self._rows_flushed += len(records)
        return None

    def _reap(self) -> StorageError | None:
        """Forget committed submissions; re-mark the records of rejected ones dirty."""
        receipts, in_flight, dirty = self._receipts, self._in_flight, self._dirty
        failure: StorageError | None = None
        while receipts and receipts[0][0].done:
            receipt, records = receipts.popleft()
            error = receipt.error
            if error is not None:
                self._write_errors += 1
                failure = error if isinstance(error, StorageError) else failure
                _log.warning(
                    "retry_gate_write_rejected",
                    actor=self.actor_name,
                    rows=len(records),
                    error=str(error),
                )
            for record in records:
                key = id(record)
                if in_flight.get(key) is receipt:
                    del in_flight[key]
                    if error is not None:
                        dirty[key] = record
        if failure is not None and dirty:
            self._timer.arm()
        return failure

    async def _flush_and_wait(self) -> None:
        error = self._flush()
        if self._receipts and self._writer is not None:
            await self._writer.flush()
        rejected = self._reap()
        if error is not None:
            raise error
        if rejected is not None:
            raise rejected

    # -- helpers --------------------------------------------------------------------------

    async def _connection(self) -> AsyncConnection:
        conn = self._reader
        if conn is None:
            assert self._engine is not None
            conn = self._reader = await self._engine.connect()
        return conn

    async def _close_reader(self) -> None:
        conn, self._reader = self._reader, None
        if conn is not None:
            with anyio.CancelScope(shield=True):
                await conn.close()

    def _statistics(self) -> RetryGateStatistics:
        return RetryGateStatistics(
            cached=self._count,
            absent=len(self._absent),
            dirty=len(self._dirty),
            in_flight=len(self._in_flight),
            loads=self._loads,
            flushes=self._flushes,
            rows_flushed=self._rows_flushed,
            decisions=self._decisions,
            failures=self._failures,
            successes=self._successes,
            resets=self._resets,
            evictions=self._evictions,
            write_errors=self._write_errors,
        )


def _unbound_now() -> float:
    raise RuntimeError("the retry gate has not started")
