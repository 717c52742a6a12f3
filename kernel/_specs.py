"""The supervision contract as data: :class:`SupervisorSpec` and :class:`ChildSpec`.

Defaults are OTP's, written down: strategy ``one_for_one``, intensity 1 restart in a period
of 5 seconds, children ``permanent``, shutdown 5 seconds for an actor and unbounded for a
sub-supervisor (it needs the time to stop its own children in order).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._actor import Actor

__all__ = ("ChildSpec", "Restart", "StopOrder", "Strategy", "SupervisorSpec")

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
"""Which children restart when one crashes: it alone, all of them, or it and those after it."""

Restart = Literal["permanent", "transient", "temporary"]
"""When a child restarts: always, only after a crash, or never."""

_STRATEGIES = ("one_for_one", "one_for_all", "rest_for_one")

StopOrder = Literal["reverse", "parallel"]
"""How a supervisor stops its children: one by one in reverse start order (OTP's), or all at
once, each within its own shutdown timeout (for a pool of independent workers)."""

_STOP_ORDERS = ("reverse", "parallel")
_RESTARTS = ("permanent", "transient", "temporary")


def _check_number(name: str, value: object, *, minimum: float, strict: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        bound = ">" if strict else ">="
        raise ValueError(f"{name} must be {bound} {minimum}, got {value!r}")


@dataclass(frozen=True, slots=True)
class ChildSpec:
    """How a supervisor starts, restarts and stops one child.

    Attributes:
        id: the child's name, unique in the kernel (``kernel.lookup(id)`` finds it).
        start: a zero-argument factory returning a fresh :class:`Actor` (called on every
            start and restart), or a :class:`SupervisorSpec` for a nested supervisor.
        restart: ``permanent`` (always restarted, even after a normal stop), ``transient``
            (restarted only after a crash) or ``temporary`` (never restarted).
        shutdown: seconds a stopping child gets to finish its current message and
            ``on_stop`` before it is cancelled; ``None`` means 5 s for an actor and no limit
            for a supervisor; ``math.inf`` waits forever.
        capacity: mailbox capacity; ``None`` takes the kernel's default.
    """

    id: str
    start: Callable[[], Actor[Any]] | SupervisorSpec
    restart: Restart = "permanent"
    shutdown: float | None = None
    capacity: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"child id must be a non-empty string, got {self.id!r}")
        if not isinstance(self.start, SupervisorSpec) and not callable(self.start):
            raise TypeError(f"child {self.id!r}: start must be callable or a SupervisorSpec")
        if self.restart not in _RESTARTS:
            raise ValueError(f"child {self.id!r}: restart must be one of {_RESTARTS}")
        if self.shutdown is not None:
            _check_number(f"child {self.id!r}: shutdown", self.shutdown, minimum=0)
        if self.capacity is not None and (
            not isinstance(self.capacity, int) or isinstance(self.capacity, bool)
        ):
            raise TypeError(f"child {self.id!r}: capacity must be an int")
        if self.capacity is not None and self.capacity < 1:
            raise ValueError(f"child {self.id!r}: capacity must be >= 1")

    @property
    def is_supervisor(self) -> bool:
        """Whether this child is a nested supervisor."""
        return isinstance(self.start, SupervisorSpec)

    @property
    def shutdown_timeout(self) -> float:
        """The effective shutdown timeout in seconds (``math.inf`` for no limit)."""
        if self.shutdown is not None:
            return self.shutdown
        return math.inf if self.is_supervisor else 5.0


@dataclass(frozen=True, slots=True)
class SupervisorSpec:
    """A supervisor's flags and its static children (started in order, stopped in reverse).

    Attributes:
        strategy: see :data:`Strategy`.
        intensity: the most restarts allowed within ``period`` seconds; one more and the
            supervisor stops all its children and escalates ``RestartLimitExceeded``.
        period: the sliding window, in seconds of the kernel clock's monotonic time.
        backoff_initial: delay before the first restart in a window (0: restart at once);
            it doubles for each further restart in the window, up to ``backoff_max``.
        backoff_max: the longest restart delay.
        backoff_jitter: the share of each delay drawn at random (0: none, 1: full jitter).
        stop_order: see :data:`StopOrder`. ``parallel`` bounds a stop by the longest shutdown
            timeout instead of their sum.
        children: the static children.
    """

    strategy: Strategy = "one_for_one"
    intensity: int = 1
    period: float = 5.0
    backoff_initial: float = 0.0
    backoff_max: float = 5.0
    backoff_jitter: float = 0.5
    stop_order: StopOrder = "reverse"
    children: tuple[ChildSpec, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.strategy not in _STRATEGIES:
            raise ValueError(f"strategy must be one of {_STRATEGIES}, got {self.strategy!r}")
        if not isinstance(self.intensity, int) or isinstance(self.intensity, bool):
            raise TypeError(f"intensity must be an int, got {self.intensity!r}")
        _check_number("intensity", self.intensity, minimum=0)
        _check_number("period", self.period, minimum=0, strict=True)
        _check_number("backoff_initial", self.backoff_initial, minimum=0)
        _check_number("backoff_max", self.backoff_max, minimum=0)
        _check_number("backoff_jitter", self.backoff_jitter, minimum=0)
        if self.backoff_jitter > 1:
            raise ValueError(f"backoff_jitter must be <= 1, got {self.backoff_jitter!r}")
        if self.stop_order not in _STOP_ORDERS:
            raise ValueError(f"stop_order must be one of {_STOP_ORDERS}, got {self.stop_order!r}")
        ids = [c.id for c in self.children]
        if len(set(ids)) != len(ids):
            raise ValueError(f"child ids must be unique, got {ids}")

    def restart_delay(self, restarts_in_window: int, draw: float) -> float:
        """Return the delay before a restart, given the restarts so far in the window.

        Args:
            restarts_in_window: restarts in the current window, this one included (>= 1).
            draw: a uniform random number in [0, 1) for the jitter.
        """
        if self.backoff_initial <= 0:
            return 0.0
        delay = min(self.backoff_initial * 2.0 ** max(restarts_in_window - 1, 0), self.backoff_max)
        return delay * (1.0 - self.backoff_jitter * draw)
