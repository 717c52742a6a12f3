"""``Runtime.dead_letters``: the dead-letter queue's operations as plain async methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

from .._exceptions import InvalidArgument
from ._messages import (
    DeadLetterCount,
    DeadLetterEntry,
    DeadLetterFilter,
    DeadLetterPage,
    ListDeadLetters,
    PurgeDeadLetters,
    ReplayDeadLetters,
    ReplayResult,
    ShowDeadLetter,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actorgrid.kernel import ActorRef

__all__ = ("DeadLetters",)


def _filter(
    topic: str | None,
    error_type: str | None,
    reason: str | None,
    since: float | None,
    until: float | None,
    target: tuple[str | None, str | None, str | None],
) -> DeadLetterFilter:
    target_type, target_id, search = target
    return DeadLetterFilter(
        topic=topic,
        error_type=error_type,
        reason=reason,
        since=since,
        until=until,
        target_type=target_type,
        target_id=target_id,
        search=search,
    )


def _ids(ids: Sequence[str] | None) -> tuple[str, ...] | None:
    if ids is None:
        return None
    if isinstance(ids, str):  # a lone id would be taken for its characters
        raise InvalidArgument("ids", ids, "a sequence of dead letter ids, not one string")
    return tuple(ids)


@final
class DeadLetters:
    """Inspect, replay and purge dead letters (every call asks the dead-letter actor).

    All four of :meth:`list`, :meth:`count`, :meth:`replay` and :meth:`purge` take the same
    filter keywords, and every one given must match: ``topic``, ``error_type`` (the
    exception's type name), ``reason`` (``exhausted``, ``non_retryable``, ``undecodable``,
    ``killed``), a time range ``[since, until)`` in epoch seconds, the target
    (``target_type``, ``target_id``) and ``search``, text the error's type name or message
    contains (case-insensitively). Listing and counting without a
    filter cover every dead letter; replaying or purging them all takes
    ``everything=True``, so that a forgotten filter never selects the whole queue.

    A bad filter, id list or selector raises :class:`~actorgrid.actors.InvalidArgument`
    before anything is asked, so it changes nothing.
    """

    def __init__(self, ref: ActorRef[Any], *, timeout: float | None = 60.0) -> None:
        self._ref = ref
        self._timeout = timeout

    async def list(
        self,
        *,
        topic: str | None = None,
        error_type: str | None = None,
        reason: str | None = None,
        since: float | None = None,
        until: float | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> DeadLetterPage:
        """Return one page of the matching dead letters, newest first; pass
        ``page.next_cursor`` as ``cursor`` for the next one.

        Raises:
            InvalidArgument: a bad filter, limit (1 to 1000) or cursor.
        """
        where = _filter(topic, error_type, reason, since, until, (target_type, target_id, search))
        page: DeadLetterPage = await self._ref.ask(
            ListDeadLetters(where=where, limit=limit, cursor=cursor), timeout=self._timeout
        )
        return page

    async def show(self, dead_letter_id: str) -> DeadLetterEntry:
        """Return one dead letter with its envelope, error, traceback and retry record.

        Raises:
            DeadLetterNotFound: no such id.
        """
        entry: DeadLetterEntry = await self._ref.ask(
            ShowDeadLetter(dead_letter_id), timeout=self._timeout
        )
        return entry

    async def count(
        self,
        *,
        topic: str | None = None,
        error_type: str | None = None,
        reason: str | None = None,
        since: float | None = None,
        until: float | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        search: str | None = None,
    ) -> int:
        """Return how many dead letters match the filter.

        Raises:
            InvalidArgument: a bad filter.
        """
        where = _filter(topic, error_type, reason, since, until, (target_type, target_id, search))
        count: int = await self._ref.ask(DeadLetterCount(where=where), timeout=self._timeout)
        return count

    async def replay(
        self,
        ids: Sequence[str] | None = None,
        *,
        topic: str | None = None,
        error_type: str | None = None,
        reason: str | None = None,
        since: float | None = None,
        until: float | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        search: str | None = None,
        everything: bool = False,
    ) -> ReplayResult:
        """Put dead letters back on their topics with a fresh retry cycle.

        Select them with exactly one of: ``ids``, the filter keywords, or
        ``everything=True``. Replaying a dead letter twice yields one live message (the
        second time it is reported under ``already``).

        Raises:
            InvalidArgument: no selector or more than one, a bad filter or bad ids.
        """
        where = _filter(topic, error_type, reason, since, until, (target_type, target_id, search))
        request = ReplayDeadLetters(
            ids=_ids(ids), where=None if where.empty else where, everything=everything
        )
        result: ReplayResult = await self._ref.ask(request, timeout=None)
        return result

    async def purge(
        self,
        ids: Sequence[str] | None = None,
        *,
        topic: str | None = None,
        error_type: str | None = None,
        reason: str | None = None,
        since: float | None = None,
        until: float | None = None,
        target_type: str | None = None,
        target_id: str | None = None,
        search: str | None = None,
        older_than: float | None = None,
        everything: bool = False,
    ) -> int:
        """Delete dead letters for good; return how many were deleted.

        Select them with exactly one of: ``ids``, the filter keywords (``older_than``, in
        seconds of age, counts as one of them), or ``everything=True``.

        Raises:
            InvalidArgument: no selector or more than one, a bad filter, bad ids or a
                negative age.
        """
        where = _filter(topic, error_type, reason, since, until, (target_type, target_id, search))
        request = PurgeDeadLetters(
            ids=_ids(ids),
            where=None if where.empty else where,
            older_than=older_than,
            everything=everything,
        )
        deleted: int = await self._ref.ask(request, timeout=None)
        return deleted
