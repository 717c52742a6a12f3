"""``PublishReceipt``: what ``publish_nowait`` hands back instead of only a message id."""

from __future__ import annotations

from typing import TYPE_CHECKING, final

if TYPE_CHECKING:
    from actorgrid.storage import Receipt

__all__ = ("PublishReceipt",)


@final
class PublishReceipt:
    """A message published without waiting: its id, and whether its row is committed.

    A durable message's row is committed later by the group-commit writer; await
    :meth:`wait` (or check :attr:`done` and :attr:`error`) to know that it is, or that the
    write was rejected for good. A transient message has no row: it is done at once.

    Attributes:
        id: the message's id.
    """

    __slots__ = ("_receipt", "id")

    def __init__(self, message_id: str, receipt: Receipt | None) -> None:
        self.id = message_id
        self._receipt = receipt

    @property
    def durable(self) -> bool:
        """Whether the message has a row to commit."""
        return self._receipt is not None

    @property
    def done(self) -> bool:
        """Whether the row is committed or rejected (always true for a transient message)."""
        return self._receipt is None or self._receipt.done

    @property
    def error(self) -> BaseException | None:
        """The ``WriteRejected`` error if the row was rejected, else ``None``."""
        return None if self._receipt is None else self._receipt.error

    async def wait(self) -> None:
        """Wait until the row is committed (at once for a transient message).

        Cancelling the wait does not cancel the publish.

        Raises:
            WriteRejected: the row was rejected for good; the message was not stored. It
                may still have been handled in this run, since ``publish_nowait`` does not
                wait for the commit before dispatching.
        """
        if self._receipt is not None:
            await self._receipt.wait()

    def __repr__(self) -> str:
        state = "pending" if not self.done else ("rejected" if self.error else "done")
        return f"<PublishReceipt {self.id} {state}>"
