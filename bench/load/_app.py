"""The load application: one topic whose handler does what each message asks of it.

Each :class:`LoadPayload` carries the failure injection of the run (``fail``: raise on the
first attempt, succeed on the retry), a known stall (``stall_ms``, for checking the
coordinated-omission correction), the handler's work time and padding up to the payload
size. ``bench.load.app:app`` is the default ``--app`` and can be served by the daemon too
(``actorgrid run --app bench.load.app:app``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import anyio
import msgspec

from actorgrid import App

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

__all__ = ("LOAD_TOPIC", "InjectedFailure", "LoadPayload", "load_app")

LOAD_TOPIC: Final = "load"


class LoadPayload(msgspec.Struct, frozen=True):
    """One message of the load: what its handler should do."""

    seq: int
    """The message's number in the run."""
    fail: bool = False
    """Raise :class:`InjectedFailure` on the first attempt (the retry succeeds)."""
    work_ms: float = 0.0
    """Sleep this long on every attempt (the handler's service time)."""
    stall_ms: float = 0.0
    """Sleep this long more on the first attempt (an injected stall)."""
    pad: str = ""
    """Padding up to the run's payload size."""


class InjectedFailure(RuntimeError):
    """The failure a :class:`LoadPayload` asked for (retryable)."""

    def __init__(self, seq: int) -> None:
        self.seq = seq
        super().__init__(f"injected failure of load message {seq}")


async def handle(payload: LoadPayload, ctx: DeliveryContext) -> None:
    """Do what ``payload`` asks: stall, work, fail once.

    Raises:
        InjectedFailure: on the first attempt of a message with ``fail``.
    """
    delay = payload.work_ms + (payload.stall_ms if ctx.attempt == 1 else 0.0)
    if delay > 0:
        await anyio.sleep(delay / 1000.0)
    if payload.fail and ctx.attempt == 1:
        raise InjectedFailure(payload.seq)


def load_app(*, durable: bool = True, concurrency: int = 4, max_in_flight: int = 1000) -> App:
    """Return the load application: the ``load`` topic and its handler.

    Args:
        durable: whether the topic is committed to the database (``False``: memory only).
        concurrency: the handler's workers.
        max_in_flight: messages queued at the workers at once.
    """
    app = App("load")
    app.topic(LOAD_TOPIC, durable=durable, payload_type=LoadPayload)
    app.handler(LOAD_TOPIC, handle, concurrency=concurrency, max_in_flight=max_in_flight)
    return app
