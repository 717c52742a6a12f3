"""The retry gate's protocol: what callers ask, and what comes back.

Every request is a frozen :class:`~actorgrid.kernel.Message`; send it with
``await gate.ask(msg)``. Replies:

============================  =================================================
request                       reply
============================  =================================================
:class:`CanRetry`             :class:`~actorgrid.actors.Decision`
:class:`CanRetryBatch`        a tuple: each one's ``Decision`` or exception, in order
:class:`RecordFailure`        :class:`FailureOutcome`
:class:`RecordFailureBatch`   a tuple: each one's ``FailureOutcome`` or exception
:class:`RecordSuccess`        the row parameters after the success, or ``None``
:class:`ResetTarget`          ``None``
:class:`GetRecord`            a copy of the :class:`~actorgrid.actors.RetryRecord`, or ``None``
:class:`FlushGate`            ``None``, once every change so far is committed
:class:`GateStats`            :class:`RetryGateStatistics`
============================  =================================================

A bad target key makes the gate raise :class:`~actorgrid.actors.InvalidTarget` back to the
asker; nothing changes.
"""

from __future__ import annotations

from typing import Any

import msgspec

from actorgrid.kernel import Message

from ._policy import Decision, RetryPolicyConfig

__all__ = (
    "CanRetry",
    "CanRetryBatch",
    "FailureOutcome",
    "FlushGate",
    "GateStats",
    "GetRecord",
    "RecordFailure",
    "RecordFailureBatch",
    "RecordSuccess",
    "ResetTarget",
    "RetryGateMessage",
    "RetryGateStatistics",
    "Submitted",
)


class CanRetry(Message, frozen=True):
    """May the target be attempted now? Reply: a :class:`Decision`.

    A granted explicit early retry is recorded on the target's record (and written behind).
    """

    target_type: str
    target_id: str
    explicit: bool = False
    """Whether a faster (early) retry is asked for."""


class CanRetryBatch(Message, frozen=True):
    """Several :class:`CanRetry` asked in one round trip. Reply: a tuple with, in order, each
    one's :class:`Decision`, or the exception it raised (the others are answered anyway).

    The gate decides them one after another, exactly as it would the same asks sent in that
    order with nothing between them: the broker releases every due retry this way instead
    of awaiting one ask per retry.
    """

    requests: tuple[CanRetry, ...]


class RecordFailure(Message, frozen=True):
    """An attempt on the target failed. Reply: a :class:`FailureOutcome`."""

    target_type: str
    target_id: str
    policy: RetryPolicyConfig | None = None
    """The policy to snapshot if this failure begins a cycle (e.g. one chosen by error type);
    ``None``: the gate's. A running cycle keeps its snapshot either way."""
    caller_writes: bool = False
    """The caller commits the returned row in its own transaction (the broker does, with the
    message's state) and sends :class:`Submitted` once it handed that transaction to the
    writer. Until then the gate writes nothing of this record, so the record can never be
    committed ahead of the state it belongs to."""
    explicit: bool = False
    """Also ask for the explicit early retry right after recording the failure (the answer
    is :attr:`FailureOutcome.early`; a grant is part of the returned row)."""


class RecordFailureBatch(Message, frozen=True):
    """Several :class:`RecordFailure` in one round trip. Reply: a tuple with, in order, each
    one's :class:`FailureOutcome`, or the exception it raised (the others are answered
    anyway).

    The gate records them one after another, exactly as the same requests sent in that
    order with nothing between them: the broker sends the failures of its handlers this
    way instead of one ask per failure.
    """

    requests: tuple[RecordFailure, ...]


class RecordSuccess(Message, frozen=True):
    """An attempt on the target succeeded: its cycle ends.

    Reply: the ``retry_records`` row parameters of the record after the success (for the
    version-guarded upsert), or ``None`` when the target has no record, in memory or in the
    database (a success of a target that never failed leaves nothing to store).
    """

    target_type: str
    target_id: str
    caller_writes: bool = False
    """As for :class:`RecordFailure` (send :class:`Submitted` after submitting)."""


class Submitted(Message, frozen=True):
    """A tell: the caller handed the row of a ``caller_writes`` request to the writer."""

    target_type: str
    target_id: str


class ResetTarget(Message, frozen=True):
    """Clear the target's record: its next attempt is a first attempt. Reply: ``None``."""

    target_type: str
    target_id: str


class GetRecord(Message, frozen=True):
    """Reply: a copy of the target's :class:`RetryRecord`, or ``None`` when it has none."""

    target_type: str
    target_id: str


class FlushGate(Message, frozen=True):
    """Write every changed record now and reply ``None`` once the writer committed them.

    The gate answers nothing else while it waits; use it for shutdown, tests and admin
    tools, never on a hot path.
    """


class GateStats(Message, frozen=True):
    """Reply: a :class:`RetryGateStatistics` snapshot."""


RetryGateMessage = (
    CanRetry
    | CanRetryBatch
    | RecordFailure
    | RecordFailureBatch
    | RecordSuccess
    | Submitted
    | ResetTarget
    | GetRecord
    | FlushGate
    | GateStats
)
"""Every request the retry gate handles."""


class FailureOutcome(msgspec.Struct, frozen=True):
    """The reply to :class:`RecordFailure`."""

    decision: Decision
    """What :class:`CanRetry` says right after the failure: denied until ``retry_after``
    (the next window), or phase ``exhausted``. Like every decision, an allowed one is a
    grant (it takes a budget slot when a budget is set)."""
    row: dict[str, Any]
    """The record's ``retry_records`` row parameters (``record_to_row``), for the
    version-guarded upsert, so the caller can commit the record in the same transaction as
    its own state change. The gate writes the same version behind as well; the version
    guard makes the second write a no-op."""
    early: Decision | None = None
    """With ``explicit``: the decision on the explicit early retry (granted, or when)."""


class RetryGateStatistics(msgspec.Struct, frozen=True):
    """A snapshot of the retry gate's counters (for this incarnation)."""

    cached: int
    """Records held in memory."""
    absent: int
    """Keys remembered as having no record (the negative cache)."""
    dirty: int
    """Records changed and not yet handed to the writer."""
    in_flight: int
    """Records handed to the writer and not yet committed."""
    loads: int
    """Single-record reads from the database (one per key first seen, at most)."""
    flushes: int
    """Submissions handed to the writer."""
    rows_flushed: int
    """Rows in those submissions."""
    decisions: int
    """:class:`CanRetry` requests answered."""
    failures: int
    """Failures recorded."""
    successes: int
    """Successes recorded."""
    resets: int
    """Records cleared by :class:`ResetTarget`."""
    evictions: int
    """Clean records dropped from memory to stay within ``max_cached``."""
    write_errors: int
    """Submissions the writer rejected (their records were marked dirty again)."""
    pruned: int = 0
    """Rows of finished targets deleted after the retention (see ``retention``)."""
