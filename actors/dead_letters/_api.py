"""``Runtime.dead_letters``: the dead-letter queue's operations as plain async methods."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

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


@final
class DeadLetters:
    """Inspect, replay and purge dead letters (every call asks the dead-letter actor).

    Filters: ``topic``, ``error_type``, ``reason`` (``exhausted``, ``non_retryable``,
    ``undecodable``), and a time range ``[since, until)`` in epoch seconds.
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
        limit: int = 50,
        cursor: str | None = None,
    ) -> DeadLetterPage:
        """Return one page, newest first; pass ``page.next_cursor`` for the next one.

        Raises:
            InvalidArgument: a bad filter, limit (1 to 1000) or cursor.
        """
        flt = DeadLetterFilter(
            topic=topic, error_type=error_type, reason=reason, since=since, until=until
        )
        page: DeadLetterPage = await self._ref.ask(
            ListDeadLetters(filter=flt, limit=limit, cursor=cursor), timeout=self._timeout
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
    ) -> int:
        """Return how many dead letters match the filter."""
        flt = DeadLetterFilter(
            topic=topic, error_type=error_type, reason=reason, since=since, until=until
        )
        count: int = await self._ref.ask(DeadLetterCount(filter=flt), timeout=self._timeout)
        return count

    async def replay(
        self,
        ids: Sequence[str] | None = None,
        *,
        filter: DeadLetterFilter | None = None,
        all: bool = False,
    ) -> ReplayResult:
        """Put dead letters back on their topics with a fresh retry cycle.

        Give exactly one of ``ids``, ``filter`` or ``all=True``. Replaying a dead letter
        twice yields one live message (the second time it is reported under ``already``).

        Raises:
            InvalidArgument: not exactly one selector.
        """
        request = ReplayDeadLetters(
            ids=tuple(ids) if ids is not None else None, filter=filter, all=all
        )
        result: ReplayResult = await self._ref.ask(request, timeout=None)
        return result

    async def purge(
        self,
        ids: Sequence[str] | None = None,
        *,
        filter: DeadLetterFilter | None = None,
        older_than: float | None = None,
        all: bool = False,
    ) -> int:
        """Delete dead letters by id, filter, age (seconds) or all; returns how many.

        Raises:
            InvalidArgument: not exactly one selector, or a negative age.
        """
        request = PurgeDeadLetters(
            ids=tuple(ids) if ids is not None else None,
            filter=filter,
            older_than=older_than,
            all=all,
        )
        deleted: int = await self._ref.ask(request, timeout=None)
        return deleted
