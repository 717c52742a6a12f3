"""``Receipt``: the outcome of one writer submission."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._exceptions import WriteRejected
    from ._plan import Plan

__all__ = ("Receipt",)


class Receipt:
    """The outcome of one submission: await it to know that it is committed."""

    __slots__ = ("_at", "_done", "_error", "_event", "_items", "_n", "_seq")

    def __init__(self, items: list[tuple[Plan, Any]], seq: int, at: float = 0.0) -> None:
        self._items = items
        self._n = len(items)
        self._seq = seq
        self._at = at
        """When it was submitted (``time.monotonic``): the writer's lag is the oldest's age."""
        self._done = False
        self._error: WriteRejected | None = None
        self._event: list[asyncio.Future[None]] | None = None
        """Futures of the tasks waiting (bare futures: an anyio Event per publish costs a
        backend lookup, a measurable share of a durable publish)."""

    @property
    def done(self) -> bool:
        """Whether the submission is committed or rejected."""
        return self._done

    @property
    def error(self) -> BaseException | None:
        """The :class:`WriteRejected` error if the submission was rejected, else ``None``."""
        return self._error

    async def wait(self) -> None:
        """Wait until the submission is committed.

        Cancelling the wait does not cancel the submission.

        Raises:
            WriteRejected: The submission failed for good; none of its operations committed.
        """
        if not self._done:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._event is None:
                self._event = [future]
            else:
                self._event.append(future)
            await future
        if self._error is not None:
            raise self._error

    def _resolve(self, error: WriteRejected | None) -> None:
        self._items = []
        self._done = True
        self._error = error
        if self._event is not None:
            for future in self._event:
                if not future.done():
                    future.set_result(None)
            self._event = None
