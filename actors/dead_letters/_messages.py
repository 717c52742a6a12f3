"""The dead-letter queue's protocol: what it keeps, what callers ask, and what comes back.

Every request is a frozen :class:`~actorgrid.kernel.Message`; send the queries with
``await dlq.ask(msg)`` and :class:`FileDeadLetter` with ``tell``. Replies:

==========================  ================================================================
request                     reply
==========================  ================================================================
:class:`ListDeadLetters`    :class:`DeadLetterPage` (newest first)
:class:`ShowDeadLetter`     :class:`DeadLetterEntry` (raises ``DeadLetterNotFound``)
:class:`DeadLetterCount`    ``int``
:class:`ReplayDeadLetters`  :class:`ReplayResult`
:class:`PurgeDeadLetters`   ``int``: how many dead letters were deleted
:class:`FileDeadLetter`     nothing (a ``tell``); keeps the entry (memory mode) or stores it
==========================  ================================================================

Requests are checked when they are built (and when they are decoded: msgspec reports the
same checks as a ``ValidationError``); a bad one raises :class:`~actorgrid.actors.InvalidArgument`
and never reaches the queue, so it changes nothing.
"""

from __future__ import annotations

import base64
import math
from typing import TYPE_CHECKING, Any

import msgspec

from actorgrid.kernel import Message
from actorgrid.storage import KEY_MAX_LENGTH

from .._delivery import Envelope
from .._exceptions import InvalidArgument

if TYPE_CHECKING:
    from .._delivery import Delivery

__all__ = (
    "MAX_PAGE_SIZE",
    "DeadLetterCount",
    "DeadLetterEntry",
    "DeadLetterFilter",
    "DeadLetterPage",
    "DeadLetterQueueMessage",
    "FileDeadLetter",
    "ListDeadLetters",
    "PurgeDeadLetters",
    "ReplayDeadLetters",
    "ReplayResult",
    "ShowDeadLetter",
    "decode_cursor",
    "encode_cursor",
)

MAX_PAGE_SIZE = 1000
"""The largest ``limit`` a :class:`ListDeadLetters` accepts."""

_cursor_decoder = msgspec.msgpack.Decoder(tuple[float, str])
_cursor_encoder = msgspec.msgpack.Encoder()


class DeadLetterEntry(msgspec.Struct, frozen=True, kw_only=True):
    """One dead letter: a message that ran out of retries, failed for good, or was unreadable."""

    id: str
    """The dead letter's own id."""
    message_id: str | None
    """The ``messages`` row of the message that died (``None`` for a transient topic)."""
    topic: str
    target_type: str
    target_id: str
    envelope: Envelope
    """Everything needed to replay the message (payload, headers, attempts)."""
    reason: str
    """``exhausted``, ``non_retryable`` or ``undecodable``."""
    error_type: str | None
    error_message: str | None
    traceback: str | None
    """The last failure's traceback, bounded by the broker."""
    attempts: int
    retry_record: dict[str, Any] | None
    """The target's retry record as it stood when the message died."""
    created_at: float
    """When the message was dead-lettered (UTC epoch seconds)."""
    replayed_at: float | None = None
    """When it was replayed (``None``: never)."""
    replay_message_id: str | None = None
    """The id of the live message its replay published."""

    @classmethod
    def from_delivery(
        cls,
        d: Delivery,
        *,
        dead_letter_id: str,
        reason: str,
        error_type: str | None,
        error_message: str | None,
        traceback: str | None,
        retry_record: dict[str, Any] | None,
        now: float,
    ) -> DeadLetterEntry:
        """Return the entry that files ``d``, which died for ``reason``."""
        return cls(
            id=dead_letter_id,
            message_id=d.id if d.durable else None,
            topic=d.topic,
            target_type=d.target_type,
            target_id=d.target_id,
            envelope=d.envelope(),
            reason=reason,
            error_type=error_type,
            error_message=error_message,
            traceback=traceback,
            attempts=d.attempts,
            retry_record=retry_record,
            created_at=now,
        )


def _check_text(name: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not 0 < len(value) <= KEY_MAX_LENGTH:
        raise InvalidArgument(name, value, f"None or a string of 1 to {KEY_MAX_LENGTH} characters")


def _check_time(name: str, value: object, *, non_negative: bool = False) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or (non_negative and value < 0)
    ):
        expected = "a finite number of seconds >= 0" if non_negative else "a finite epoch time"
        raise InvalidArgument(name, value, f"None or {expected}")


class DeadLetterFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which dead letters a request is about; every field set must match (``None``: any).

    Raises:
        InvalidArgument: a field has the wrong type or is out of range, or ``since`` is
            later than ``until``.
    """

    topic: str | None = None
    error_type: str | None = None
    """The failure's exception type name, exactly as stored (e.g. ``"ValueError"``)."""
    reason: str | None = None
    since: float | None = None
    """Dead-lettered at or after this time (epoch seconds)."""
    until: float | None = None
    """Dead-lettered before this time (epoch seconds): the range is ``[since, until)``."""
    target_type: str | None = None
    target_id: str | None = None
    search: str | None = None
    """Text the error contains (its type name or its message), case-insensitively for
    ASCII letters."""

    def __post_init__(self) -> None:
        _check_text("topic", self.topic)
        _check_text("error_type", self.error_type)
        _check_text("reason", self.reason)
        _check_time("since", self.since)
        _check_time("until", self.until)
        _check_text("target_type", self.target_type)
        _check_text("target_id", self.target_id)
        _check_text("search", self.search)
        if self.since is not None and self.until is not None and self.since > self.until:
            raise InvalidArgument("since", self.since, f"a time <= until ({self.until!r})")

    @property
    def empty(self) -> bool:
        """Whether no field is set (the filter matches every dead letter)."""
        return (
            self.topic is None
            and self.error_type is None
            and self.reason is None
            and self.since is None
            and self.until is None
            and self.target_type is None
            and self.target_id is None
            and self.search is None
        )

    def matches(self, entry: DeadLetterEntry) -> bool:
        """Return whether ``entry`` passes this filter."""
        return (
            (self.topic is None or entry.topic == self.topic)
            and (self.error_type is None or entry.error_type == self.error_type)
            and (self.reason is None or entry.reason == self.reason)
            and (self.since is None or entry.created_at >= self.since)
            and (self.until is None or entry.created_at < self.until)
            and (self.target_type is None or entry.target_type == self.target_type)
            and (self.target_id is None or entry.target_id == self.target_id)
            and (self.search is None or self._found_in(entry))
        )

    def _found_in(self, entry: DeadLetterEntry) -> bool:
        needle = (self.search or "").lower()
        return any(
            needle in text.lower() for text in (entry.error_type, entry.error_message) if text
        )


def encode_cursor(created_at: float, dead_letter_id: str) -> str:
    """Return the opaque cursor that continues a listing after this entry."""
    raw = _cursor_encoder.encode((created_at, dead_letter_id))
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    """Return the ``(created_at, id)`` position a cursor stands for.

    Raises:
        InvalidArgument: the cursor was not made by :func:`encode_cursor`.
    """
    problem = "a next_cursor returned by an earlier page"
    if not isinstance(cursor, str) or not 0 < len(cursor) <= 512:
        raise InvalidArgument("cursor", cursor, problem)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, dead_letter_id = _cursor_decoder.decode(raw)
    except (ValueError, msgspec.DecodeError):
        raise InvalidArgument("cursor", cursor, problem) from None
    if not math.isfinite(created_at) or not dead_letter_id:
        raise InvalidArgument("cursor", cursor, problem)
    return created_at, dead_letter_id


class DeadLetterPage(msgspec.Struct, frozen=True, kw_only=True):
    """One page of a listing, newest first (by ``created_at``, then ``id``)."""

    entries: tuple[DeadLetterEntry, ...]
    next_cursor: str | None
    """Pass it as ``cursor`` to get the next page; ``None`` on the last page."""
    total: int
    """How many dead letters match the filter (all pages)."""


class ReplayResult(msgspec.Struct, frozen=True, kw_only=True):
    """What a replay did, per dead letter id."""

    replayed: tuple[tuple[str, str], ...] = ()
    """``(dead letter id, new live message id)`` of each dead letter replayed now."""
    already: tuple[tuple[str, str], ...] = ()
    """``(dead letter id, live message id of its first replay)``: replayed before, nothing
    published again."""
    missing: tuple[str, ...] = ()
    """Ids asked for that name no dead letter."""
    failed: tuple[tuple[str, str], ...] = ()
    """``(dead letter id, problem)``: dead letters that cannot be replayed (their stored
    envelope is unreadable); they are left unchanged."""


def _check_ids(ids: object) -> None:
    if ids is None:
        return
    if not isinstance(ids, tuple) or not ids:
        raise InvalidArgument("ids", ids, "None or a non-empty tuple of dead letter ids")
    for item in ids:
        if not isinstance(item, str) or not item:
            raise InvalidArgument("ids", item, "a non-empty string id")


def _check_filter(value: object, *, selector: bool = False) -> None:
    if value is None:
        return
    if not isinstance(value, DeadLetterFilter):
        raise InvalidArgument("where", value, "None or a DeadLetterFilter")
    if selector and value.empty:
        raise InvalidArgument(
            "where", value, "a filter with a field set (everything=True selects them all)"
        )


def _check_everything(value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument("everything", value, "a bool")


def _check_one_selector(selectors: dict[str, bool]) -> None:
    given = [name for name, present in selectors.items() if present]
    if len(given) != 1:
        names = ", ".join(selectors)
        raise InvalidArgument(
            "selector",
            tuple(given),
            f"exactly one of {names} (everything=True to select every dead letter)",
        )


class FileDeadLetter(Message, frozen=True):
    """Keep ``entry`` (a ``tell`` from the broker).

    In memory mode the entry joins the bounded store (the oldest is evicted when full). With
    a database the broker normally inserts dead letters itself, in the transaction of the
    message's state change; an entry filed here is inserted through the writer.
    """

    entry: DeadLetterEntry


class ListDeadLetters(Message, frozen=True, kw_only=True):
    """Reply: a :class:`DeadLetterPage` of the dead letters matching ``where``, newest first.

    Pagination is keyset on ``(created_at, id)``: entries filed while paging never shift
    the pages already seen.

    Raises:
        InvalidArgument: ``limit`` is not an int in 1..1000, or ``cursor`` is malformed.
    """

    where: DeadLetterFilter = msgspec.field(default_factory=DeadLetterFilter)
    limit: int = 50
    cursor: str | None = None

    def __post_init__(self) -> None:
        _check_filter(self.where)
        if (
            isinstance(self.limit, bool)
            or not isinstance(self.limit, int)
            or not 1 <= self.limit <= MAX_PAGE_SIZE
        ):
            raise InvalidArgument("limit", self.limit, f"an int from 1 to {MAX_PAGE_SIZE}")
        if self.cursor is not None:
            decode_cursor(self.cursor)


class ShowDeadLetter(Message, frozen=True):
    """Reply: the :class:`DeadLetterEntry` with this id.

    Raises:
        InvalidArgument: ``id`` is not a non-empty string.
        DeadLetterNotFound: (from the queue) no dead letter has this id.
    """

    id: str

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise InvalidArgument("id", self.id, "a non-empty dead letter id")


class DeadLetterCount(Message, frozen=True, kw_only=True):
    """Reply: how many dead letters match ``where`` (an ``int``)."""

    where: DeadLetterFilter = msgspec.field(default_factory=DeadLetterFilter)

    def __post_init__(self) -> None:
        _check_filter(self.where)


class ReplayDeadLetters(Message, frozen=True, kw_only=True):
    """Put dead letters back on their topics, each with a fresh retry cycle.

    Give exactly one selector: ``ids``, ``where`` (a filter with a field set) or
    ``everything=True``. Each replay publishes a new message (new id, no attempts) with the
    dead letter's payload, headers and target, clears the target's retry record and marks
    the dead letter replayed, all in one transaction; then the message is dispatched. A
    dead letter replayed before is reported in ``already`` and publishes nothing. Reply: a
    :class:`ReplayResult`.

    Raises:
        InvalidArgument: not exactly one selector, an empty ``where``, or an empty or
            malformed ``ids``.
    """

    ids: tuple[str, ...] | None = None
    where: DeadLetterFilter | None = None
    everything: bool = False

    def __post_init__(self) -> None:
        _check_ids(self.ids)
        _check_filter(self.where, selector=True)
        _check_everything(self.everything)
        _check_one_selector(
            {
                "ids": self.ids is not None,
                "where": self.where is not None,
                "everything": self.everything,
            }
        )


class PurgeDeadLetters(Message, frozen=True, kw_only=True):
    """Delete dead letters for good. Reply: how many were deleted (an ``int``).

    Give exactly one selector: ``ids``, a filter (``where`` with a field set, and/or
    ``older_than``: seconds of age, every dead letter filed more than that long ago), or
    ``everything=True``. The ``messages`` row of each purged dead letter (state ``dead``)
    goes with it.

    Raises:
        InvalidArgument: not exactly one selector, an empty ``where``, an empty or
            malformed ``ids``, or a negative or non-finite ``older_than``.
    """

    ids: tuple[str, ...] | None = None
    where: DeadLetterFilter | None = None
    older_than: float | None = None
    everything: bool = False

    def __post_init__(self) -> None:
        _check_ids(self.ids)
        _check_filter(self.where, selector=True)
        _check_time("older_than", self.older_than, non_negative=True)
        _check_everything(self.everything)
        _check_one_selector(
            {
                "ids": self.ids is not None,
                "where/older_than": self.where is not None or self.older_than is not None,
                "everything": self.everything,
            }
        )


DeadLetterQueueMessage = (
    FileDeadLetter
    | ListDeadLetters
    | ShowDeadLetter
    | DeadLetterCount
    | ReplayDeadLetters
    | PurgeDeadLetters
)
"""Every request the dead-letter queue handles."""
