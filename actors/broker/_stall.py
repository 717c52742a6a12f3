"""One watchdog timer for all of the broker's asks to the retry gate.

An ask of the gate has no deadline (see ``BrokerCore.ask_gate``), but one that waits longer
than ``stall_warning`` is worth a warning. A timer armed and cancelled per ask cost more
than the gate's own work on the failure path, so one timer serves every ask in flight: it
fires every ``seconds`` while any ask is pending and warns once for each ask older than
``seconds``. A stalled ask is therefore reported between ``seconds`` and twice that after
it began.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("StallWatch",)

_log = structlog.get_logger("actorgrid.broker")


class StallWatch:
    """Track asks in flight; warn (``gate_stalled``) for each one pending past ``seconds``."""

    __slots__ = ("_handle", "_next", "_now", "_pending", "seconds")

    def __init__(self, seconds: float, now: Callable[[], float] | None = None) -> None:
        self.seconds = seconds
        self._now = now
        self._pending: dict[int, tuple[str, float]] = {}
        self._next = 0
        self._handle: asyncio.TimerHandle | None = None

    def begin(self, request: str) -> int:
        """Record an ask of ``request`` (a message type's name) starting now; its token."""
        self._next += 1
        token = self._next
        self._pending[token] = (request, self._time())
        if self._handle is None and self._now is None:
            self._handle = asyncio.get_running_loop().call_later(self.seconds, self._fire)
        return token

    def end(self, token: int) -> None:
        """The ask of ``token`` is answered (or failed)."""
        self._pending.pop(token, None)

    @property
    def pending(self) -> int:
        """Asks in flight."""
        return len(self._pending)

    def check(self) -> list[str]:
        """Warn for every ask pending ``seconds`` or more, once each; return their requests."""
        now = self._time()
        stalled: list[str] = []
        for token, (request, began) in list(self._pending.items()):
            if now - began >= self.seconds:
                stalled.append(request)
                del self._pending[token]  # warned once; its end() is then a no-op
                _log.warning("gate_stalled", request=request, waiting_seconds=now - began)
        return stalled

    def _fire(self) -> None:
        self._handle = None
        self.check()
        if self._pending:
            self._handle = asyncio.get_running_loop().call_later(self.seconds, self._fire)

    def _time(self) -> float:
        return self._now() if self._now is not None else asyncio.get_running_loop().time()
