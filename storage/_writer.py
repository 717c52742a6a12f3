"""The group-commit writer: the one task that writes to the database.

SQLite has one writer at a time, so all writes go through one :class:`Writer`. Callers
``submit`` operations (never blocking); a background task commits whatever is pending in one
transaction per batch of at most ``max_batch_ops`` operations. Group commit is adaptive: what
arrives while a commit is in flight joins the next batch; an idle writer woken by a
submission commits at once unless its last ``max_delay`` wait for company gathered some (it
probes with one such wait now and then). A caller that needs durability awaits its
:class:`Receipt` (or uses ``write``).

Invariants:

* The operations of one submission commit in the same transaction, in order; submissions
  commit in submission order.
* A failed commit is rolled back. Transient failures (locked, busy, I/O, disk full, a lost
  connection) are retried with exponential backoff and the rows stay pending. Any other
  failure re-runs each submission of the batch alone, so one bad submission cannot sink the
  others; a submission that still fails is rejected (``WriteRejected`` on its receipt, a
  warning log event) and never silently dropped.
* Each transaction attempt is shielded from cancellation, so cancellation only ever lands
  between attempts: a batch is either committed and resolved, or still pending.
* Closing is bounded by ``close_timeout`` when one is set: at the deadline the writer gives
  up (a transaction still waiting for the lock ends within one lock slice, rolled back; see
  ``_executor``), rejects what is left and logs one error naming it, table by table.

Up to two batches are queued in the driver's thread at once (see ``_executor``), so the
thread goes from one transaction to the next without waiting for the event loop; a failure
makes the batches queued behind it skip, and they are committed after it is dealt with.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from contextlib import suppress
from dataclasses import dataclass
from itertools import islice
from time import monotonic
from typing import TYPE_CHECKING, Final

import anyio
import structlog

from actorgrid.kernel import Histogram, HistogramSnapshot, latency_histogram

from ._exceptions import (
    FlushTimeout,
    InvalidStorageArgument,
    WriterClosed,
    WriteRejected,
    WriterNotStarted,
)
from ._executor import BatchExecutor, WriterAbandoned
from ._plan import PlanCache
from ._receipt import Receipt
from ._transient import is_transient

if TYPE_CHECKING:
    from types import EllipsisType, TracebackType

    from anyio.abc import TaskGroup, TaskStatus
    from sqlalchemy.ext.asyncio import AsyncEngine

    from ._op import Op

__all__ = ("Writer", "WriterStatistics")

_log = structlog.get_logger("actorgrid.storage.writer")

_PIPELINE_DEPTH: Final = 2
_PROBE_EVERY: Final = 64
"""After a group-commit wait that no submission joined, wakes that commit at once before
the writer tries waiting again."""


class _GaveUp(Exception):
    """Internal: the close deadline passed; what is still pending stays pending."""


@dataclass(frozen=True, slots=True)
class WriterStatistics:
    """A snapshot of a writer's counters."""

    pending_ops: int
    """Operations submitted and neither committed nor rejected yet (in flight included)."""
    pending_submissions: int
    """Submissions neither committed nor rejected yet."""
    batches_committed: int
    """Transactions committed."""
    ops_committed: int
    """Operations committed."""
    retries: int
    """Transaction attempts that failed transiently and were retried."""
    rejected: int
    """Submissions rejected for good."""
    last_error: str | None
    """The last commit failure, as ``"Type: message"``, or ``None``."""
    lag_seconds: float
    """How long the oldest submission not yet committed or rejected has waited (0.0 when
    nothing waits): how far the database is behind what was submitted."""
    batch_ops: HistogramSnapshot
    """Operations per committed transaction (bounds 1, 3, 7, ... 16383)."""
    commit_seconds: HistogramSnapshot
    """Seconds each committed transaction took, from its ``BEGIN`` (waits for the write
    lock included) to its ``COMMIT`` (bounds about 1 µs to 69 s, each 4 times the last)."""


class Writer:
    """The group-commit writer; an async context manager (``async with Writer(engine) as w``).

    All methods must be called from the event loop's thread.

    Args:
        engine: The engine to write through.
        max_batch_ops: Most operations per transaction (a larger single submission still
            commits whole, alone).
        max_delay: How long an idle writer woken by a submission may wait for more to join
            the same transaction; it waits only while such waits gather company (a lone
            sequential writer commits at once), and ``0`` never waits.
        retry_initial: First backoff after a transient failure, in seconds; doubles per retry.
        retry_max: Longest backoff, in seconds.
        close_timeout: How long closing may take to flush; ``None`` waits for as long as it
            takes (pending rows are never dropped silently, so the default waits).
        max_pending_ops: Operations queued and not yet committed above which
            :meth:`wait_for_room` waits and :attr:`has_room` is false (backpressure for
            submitters); ``None`` never pushes back. :meth:`submit` itself never refuses.

    Raises:
        InvalidStorageArgument: An option is out of range.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        max_batch_ops: int = 2000,
        max_delay: float = 0.002,
        retry_initial: float = 0.05,
        retry_max: float = 2.0,
        close_timeout: float | None = None,
        max_pending_ops: int | None = None,
    ) -> None:
        if isinstance(max_batch_ops, bool) or not isinstance(max_batch_ops, int):
            raise InvalidStorageArgument("max_batch_ops", max_batch_ops, "an int >= 1")
        if max_batch_ops < 1:
            raise InvalidStorageArgument("max_batch_ops", max_batch_ops, "an int >= 1")
        _check_seconds("max_delay", max_delay, allow_zero=True)
        _check_seconds("retry_initial", retry_initial, allow_zero=False)
        _check_seconds("retry_max", retry_max, allow_zero=False)
        if retry_max < retry_initial:
            raise InvalidStorageArgument(
                "retry_max", retry_max, f">= retry_initial ({retry_initial})"
            )
        if close_timeout is not None:
            _check_seconds("close_timeout", close_timeout, allow_zero=True)
        if max_pending_ops is not None and (
            isinstance(max_pending_ops, bool)
            or not isinstance(max_pending_ops, int)
            or max_pending_ops < 1
        ):
            raise InvalidStorageArgument("max_pending_ops", max_pending_ops, "an int >= 1")
        self._max_pending = max_pending_ops
        self._engine = engine
        self._executor = BatchExecutor(engine)
        self._plans = PlanCache(engine.dialect)
        self._max_batch_ops = max_batch_ops
        self._max_delay = float(max_delay)
        self._retry_initial = float(retry_initial)
        self._retry_max = float(retry_max)
        self._close_timeout = close_timeout
        self._state = "new"  # new -> running -> closing -> closed
        self._queue: deque[Receipt] = deque()
        self._pending_ops = 0
        self._submitted = 0  # sequence number of the last submission
        self._resolved = 0  # sequence number of the last resolved submission
        self._urgent_upto = 0  # flush() asked for everything up to here without delay
        self._wake: anyio.Event | None = None
        self._wake_on_any = False
        self._wait_paid = False  # the last group-commit wait gathered another submission
        self._wakes_since_wait = 0
        self._progress: anyio.Event | None = None
        self._task_group: TaskGroup | None = None
        self._run_scope: anyio.CancelScope | None = None
        self._run_done: anyio.Event | None = None
        self._closed: anyio.Event | None = None
        self._gave_up = False
        self._commit_unknown = False
        self._batches_committed = 0
        self._ops_committed = 0
        self._retries = 0
        self._rejected = 0
        self._last_error: str | None = None
        self._batch_ops = Histogram(first_bits=1, last_bits=14)
        self._commit_seconds = latency_histogram()  # nanoseconds

    async def __aenter__(self) -> Writer:
        if self._state != "new":
            raise RuntimeError("a Writer can be entered only once")
        self._run_done = anyio.Event()
        self._closed = anyio.Event()
        self._task_group = anyio.create_task_group()
        await self._task_group.__aenter__()
        try:
            await self._task_group.start(self._run)
        except BaseException as exc:
            await self._task_group.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        self._state = "running"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.aclose()
        finally:
            if self._task_group is not None:
                task_group, self._task_group = self._task_group, None
                # The background task has ended by now. The body's own exception (or
                # cancellation) is not the task group's business: passing it in would wrap
                # it in an ExceptionGroup; it propagates from here unchanged instead.
                await task_group.__aexit__(None, None, None)

    def submit(self, *ops: Op) -> Receipt:
        """Queue ``ops`` to be committed together, in order, in one transaction.

        Never blocks or awaits. The parameter values are captured now: mutating them later
        does not change what is written. Submitting no operations returns a receipt that is
        already done.

        Raises:
            InvalidOp: An argument is not an :class:`Op`, or an operation cannot be executed
                (nothing of this submission is queued).
            WriterClosed: The writer is closing or closed.
            WriterNotStarted: The writer was never entered.
        """
        if self._state != "running":
            raise WriterNotStarted() if self._state == "new" else WriterClosed()
        items = self._plans.prepare_ops(ops)
        receipt = Receipt(items, 0, monotonic())
        if not items:
            receipt._resolve(None)
            return receipt
        self._submitted += 1
        receipt._seq = self._submitted
        self._queue.append(receipt)
        self._pending_ops += len(items)
        wake = self._wake
        if wake is not None and (self._wake_on_any or self._pending_ops >= self._max_batch_ops):
            wake.set()
        return receipt

    @property
    def has_room(self) -> bool:
        """Whether fewer than ``max_pending_ops`` operations wait to be committed."""
        return self._max_pending is None or self._pending_ops < self._max_pending

    async def wait_for_room(self) -> None:
        """Wait while ``max_pending_ops`` or more operations wait to be committed (a stalled
        or slow database); returns at once when there is room or the writer is not running.
        """
        while not self.has_room and self._state == "running":
            if self._progress is None:
                self._progress = anyio.Event()
            await self._progress.wait()

    async def write(self, *ops: Op) -> None:
        """Submit ``ops`` and wait until they are committed.

        Raises:
            InvalidOp: An operation cannot be executed (nothing was queued).
            WriteRejected: The submission failed for good; none of its operations committed.
            WriterClosed: The writer is closing or closed.
            WriterNotStarted: The writer was never entered.
        """
        await self.submit(*ops).wait()

    async def flush(self) -> None:
        """Commit everything submitted so far now and wait until it is committed or rejected.

        Rejections are reported on their receipts, not raised here.

        Raises:
            WriterNotStarted: The writer was never entered.
        """
        if self._state == "new":
            raise WriterNotStarted()
        target = self._submitted
        if self._resolved >= target:
            return
        self._urgent_upto = max(self._urgent_upto, target)
        if self._wake is not None:
            self._wake.set()
        while self._resolved < target:
            if self._progress is None:
                self._progress = anyio.Event()
            await self._progress.wait()

    def statistics(self) -> WriterStatistics:
        """Return a snapshot of the writer's counters."""
        queue = self._queue
        return WriterStatistics(
            pending_ops=self._pending_ops,
            pending_submissions=len(queue),
            batches_committed=self._batches_committed,
            ops_committed=self._ops_committed,
            retries=self._retries,
            rejected=self._rejected,
            last_error=self._last_error,
            lag_seconds=max(0.0, monotonic() - queue[0]._at) if queue else 0.0,
            batch_ops=self._batch_ops.snapshot(),
            commit_seconds=self._commit_seconds.snapshot(),
        )

    async def aclose(self, *, timeout: float | EllipsisType | None = ...) -> None:
        """Stop accepting submissions, commit everything pending, and stop the writer.

        Safe to call more than once and from any task; the flush is shielded from
        cancellation and bounded by the close timeout when there is one.

        Args:
            timeout: overrides ``close_timeout`` for this close (``None``: no bound).

        Raises:
            FlushTimeout: the close timeout passed before everything was committed; the
                submissions left are rejected and logged (``writer_flush_timeout``).
        """
        limit = self._close_timeout if timeout is ... else timeout
        if limit is not None:
            _check_seconds("timeout", limit, allow_zero=True)
        if self._state == "new":
            self._state = "closed"
            return
        assert self._closed is not None
        assert self._run_done is not None
        if self._state != "running":
            with anyio.CancelScope(shield=True):
                await self._closed.wait()
            return
        self._state = "closing"
        give_up = (
            asyncio.get_running_loop().call_later(limit, self._give_up)
            if limit is not None
            else None
        )
        try:
            with anyio.CancelScope(shield=True) as scope:
                if limit is not None:
                    scope.deadline = anyio.current_time() + limit
                if self._run_scope is not None:
                    self._run_scope.cancel()
                await self._run_done.wait()
                with suppress(_GaveUp):
                    await self._pump()
            if not self._run_done.is_set():
                # Cut by the deadline: the background task ends within one lock slice now.
                self._give_up()
                with anyio.CancelScope(shield=True):
                    await self._run_done.wait()
            await self._executor.close()
            if self._queue:
                self._fail_remaining(limit or 0.0)
        finally:
            if give_up is not None:
                give_up.cancel()
            self._state = "closed"
            self._closed.set()

    def _give_up(self) -> None:
        if not self._gave_up:
            self._gave_up = True
            self._commit_unknown = self._executor.abandon()

    def _fail_remaining(self, timeout: float) -> None:
        unwritten = _describe(self._queue)
        error = FlushTimeout(self._pending_ops, timeout, unwritten)
        _log.error(
            "writer_flush_timeout",
            pending_ops=self._pending_ops,
            timeout=timeout,
            unwritten=", ".join(f"{what}: {n}" for what, n in unwritten.items()),
            commit_outcome_unknown=self._commit_unknown,
        )
        while self._queue:
            self._reject(self._queue[0], error, log=False)
        self._notify_progress()
        raise error

    async def _run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        try:
            with anyio.CancelScope() as scope:
                self._run_scope = scope
                task_status.started()
                with suppress(_GaveUp):
                    while True:
                        await self._wait_for_work()
                        await self._pump()
        finally:
            assert self._run_done is not None
            self._run_done.set()

    async def _wait_for_work(self) -> None:
        woke_from_idle = False
        while not self._queue:
            self._wake = anyio.Event()
            self._wake_on_any = True
            try:
                await self._wake.wait()
            finally:
                self._wake = None
                self._wake_on_any = False
            woke_from_idle = True
        if not woke_from_idle or self._max_delay <= 0:
            return
        # Adaptive group commit: the tasks already runnable submit first (one pass of the
        # event loop). The writer then waits for company only while waiting pays: after a
        # wait that nothing joined, it commits at once, probing with one wait every
        # _PROBE_EVERY wakes (a lone sequential writer pays max_delay once per probe).
        await anyio.lowlevel.checkpoint()
        self._wakes_since_wait += 1
        if (
            (self._wait_paid or self._wakes_since_wait >= _PROBE_EVERY)
            and self._pending_ops < self._max_batch_ops
            and self._urgent_upto <= self._resolved
        ):
            self._wakes_since_wait = 0
            before = self._submitted
            self._wake = anyio.Event()
            try:
                with anyio.move_on_after(self._max_delay):
                    await self._wake.wait()
            finally:
                self._wake = None
            self._wait_paid = self._submitted > before

    async def _pump(self) -> None:
        """Commit batches until the queue is empty.

        Up to ``_PIPELINE_DEPTH`` transactions are queued in the driver's thread at once, so
        the thread starts the next one as soon as it finishes the last. Waiting on a queued
        transaction is shielded: cancellation lands only when nothing is in flight. After a
        failure the transactions queued behind it are skipped and the failed batch takes the
        careful path (:meth:`_process`: retries, then one submission at a time).
        """
        inflight: deque[tuple[list[Receipt], asyncio.Future[int]]] = deque()
        covered = 0  # receipts at the head of the queue that belong to in-flight batches
        while True:
            while len(inflight) < _PIPELINE_DEPTH:
                batch = self._take_batch(skip=covered)
                if not batch:
                    break
                # None until a connection is open (the careful path opens it and reports
                # any failure to) and for batches only SQLAlchemy can run.
                future = self._executor.start([receipt._items for receipt in batch])
                if future is None:
                    if inflight:
                        break
                    await self._process(batch)
                    continue
                inflight.append((batch, future))
                covered += len(batch)
            if not inflight:
                return
            batch, future = inflight.popleft()
            covered -= len(batch)
            with anyio.CancelScope(shield=True):
                outcome = await _outcome(future)
            if isinstance(outcome, int):
                self._commit_seconds.observe(outcome)
                self._resolve(batch, None)
                if self._gave_up:
                    raise _GaveUp()
                continue
            if self._gave_up:
                raise _GaveUp()
            with anyio.CancelScope(shield=True):
                for _, later in inflight:
                    await _outcome(later)
                inflight.clear()
                covered = 0
                await self._executor.recover()
            await self._process(batch)

    def _take_batch(self, skip: int = 0) -> list[Receipt]:
        batch: list[Receipt] = []
        count = 0
        for receipt in islice(self._queue, skip, None):
            if batch and count + receipt._n > self._max_batch_ops:
                break
            batch.append(receipt)
            count += receipt._n
            if count >= self._max_batch_ops:
                break
        return batch

    async def _process(self, batch: list[Receipt]) -> None:
        """Commit ``batch`` (a prefix of the queue) or, failing that, each submission alone."""
        error = await self._commit_retrying(batch)
        if error is None:
            self._resolve(batch, None)
            return
        if len(batch) == 1:
            self._resolve(batch, error)
            return
        for receipt in batch:
            self._resolve([receipt], await self._commit_retrying([receipt]))

    async def _commit_retrying(self, batch: list[Receipt]) -> Exception | None:
        """Commit ``batch`` in one transaction, retrying transient failures.

        Returns:
            ``None`` once committed (its duration is counted), or the non-transient error
            it failed with.
        """
        delay = self._retry_initial
        attempt = 0
        while True:
            attempt += 1
            if self._gave_up:
                raise _GaveUp()
            try:
                with anyio.CancelScope(shield=True):
                    elapsed = await self._executor.run([receipt._items for receipt in batch])
            except Exception as exc:
                if self._gave_up or isinstance(exc, WriterAbandoned):
                    raise _GaveUp() from exc
                self._last_error = f"{type(exc).__name__}: {exc}"
                if not is_transient(exc):
                    return exc
                self._retries += 1
                _log.warning(
                    "writer_commit_retry",
                    attempt=attempt,
                    delay=delay,
                    error=self._last_error,
                    pending_ops=self._pending_ops,
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
            else:
                self._commit_seconds.observe(elapsed)
                return None

    def _resolve(self, batch: list[Receipt], error: Exception | None) -> None:
        if error is None:
            ops = 0
            for receipt in batch:
                ops += receipt._n
                self._finish(receipt, None)
            self._batches_committed += 1
            self._ops_committed += ops
            self._batch_ops.observe(ops)
        else:
            for receipt in batch:
                self._reject(receipt, error)
        self._notify_progress()

    def _reject(self, receipt: Receipt, cause: BaseException, *, log: bool = True) -> None:
        self._rejected += 1
        if log:
            _log.warning(
                "writer_submission_rejected",
                ops=receipt._n,
                error=f"{type(cause).__name__}: {cause}",
            )
        self._finish(receipt, WriteRejected(receipt._n, cause))

    def _finish(self, receipt: Receipt, error: WriteRejected | None) -> None:
        popped = self._queue.popleft()
        assert popped is receipt, "submissions resolve in queue order"
        self._pending_ops -= receipt._n
        self._resolved = receipt._seq
        receipt._resolve(error)

    def _notify_progress(self) -> None:
        if self._progress is not None:
            self._progress.set()
            self._progress = None


def _describe(receipts: deque[Receipt]) -> dict[str, int]:
    """Count the pending operations by statement and table: ``{"insert messages": 3}``."""
    counts: Counter[str] = Counter()
    for receipt in receipts:
        for plan, _ in receipt._items:
            statement = plan.statement
            table = getattr(getattr(statement, "table", None), "name", None) or "?"
            verb = getattr(statement, "__visit_name__", "statement")
            counts[f"{verb} {table}"] += 1
    return dict(counts)


async def _outcome(future: asyncio.Future[int]) -> Exception | float:
    """The transaction's duration in seconds, or the error it failed with."""
    try:
        return await future
    except Exception as exc:
        return exc


def _check_seconds(name: str, value: object, *, allow_zero: bool) -> None:
    ok = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and value == value  # not NaN
        and value != float("inf")
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        raise InvalidStorageArgument(
            name, value, "a finite number of seconds " + (">= 0" if allow_zero else "> 0")
        )
