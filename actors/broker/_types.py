"""The broker's public vocabulary: topics, subscriptions, the handler's context, early retries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, final

import msgspec

from .._exceptions import InvalidArgument

if TYPE_CHECKING:
    from .._delivery import Delivery
    from ..patterns import Reference, Revision
    from ..retry import RetryPolicyConfig

__all__ = (
    "DeliveryContext",
    "FallbackPolicy",
    "Handler",
    "RetryEarly",
    "Subscription",
    "TopicSpec",
)

Handler = Callable[[Any, "DeliveryContext"], Awaitable[object]]
"""``async def handler(payload, ctx)``: return to ack; raise to nack."""


class RetryEarly(Exception):
    """Raise from a handler to fail this attempt and ask for the explicit early retry.

    The retry gate grants one early retry per cycle, once the early window (20 minutes by
    default) has passed since this failure; the pattern engine's glimpse runs before it.
    """


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """A topic's settings.

    Attributes:
        name: the topic name (1 to 255 characters).
        durable: ``True`` (default): every acknowledged publish is committed to the database
            and survives a crash. ``False``: messages live in memory only; faster, but a
            crash or restart loses whatever was not handled yet.
        payload_type: when set, ``publish`` refuses payloads of another type and handlers
            receive payloads decoded as this type.
    """

    name: str
    durable: bool = True
    payload_type: Any = None


@dataclass(frozen=True, slots=True)
class Subscription:
    """How a topic's messages are handled.

    Attributes:
        topic: the topic to consume.
        handler: ``async def handler(payload, ctx)``.
        concurrency: number of worker actors running the handler in parallel.
        max_in_flight: most messages queued at the workers at once; a full subscription
            makes ``publish`` wait (``publish_nowait`` raises ``BrokerFull``).
        payload_type: decode payloads as this type (default: the topic's type).
        non_retryable: exception types that go straight to the dead-letter queue.
        error_policies: exception types with a retry policy of their own (the first
            matching entry wins; with a retry gate, the policy becomes the cycle's snapshot).
    """

    topic: str
    handler: Handler
    concurrency: int = 1
    max_in_flight: int = 100
    payload_type: Any = None
    non_retryable: tuple[type[BaseException], ...] = ()
    error_policies: Mapping[type[BaseException], RetryPolicyConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not callable(self.handler):
            raise InvalidArgument("handler", self.handler, "an async callable")
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int):
            raise InvalidArgument("concurrency", self.concurrency, "an int >= 1")
        if self.concurrency < 1:
            raise InvalidArgument("concurrency", self.concurrency, "an int >= 1")
        if isinstance(self.max_in_flight, bool) or not isinstance(self.max_in_flight, int):
            raise InvalidArgument("max_in_flight", self.max_in_flight, "an int >= 1")
        if self.max_in_flight < self.concurrency:
            raise InvalidArgument(
                "max_in_flight", self.max_in_flight, f"an int >= concurrency ({self.concurrency})"
            )
        for kind in (*self.non_retryable, *self.error_policies):
            if not (isinstance(kind, type) and issubclass(kind, BaseException)):
                raise InvalidArgument("exception type", kind, "an exception class")

    def policy_for(self, exc: BaseException) -> RetryPolicyConfig | None:
        """Return the retry policy of the first ``error_policies`` entry matching ``exc``."""
        for kind, policy in self.error_policies.items():
            if isinstance(exc, kind):
                return policy
        return None


class FallbackPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The count-based policy used when there is no retry gate (the seed's compatibility path).

    Attempt ``n`` (1-based) that fails is retried after
    ``min(base_delay * factor ** (n - 1), max_delay)`` seconds, with equal jitter when
    ``jitter`` is on, until ``max_attempts`` attempts have failed.
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    factor: float = 2.0
    max_delay: float = 300.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise InvalidArgument("max_attempts", self.max_attempts, "an int >= 1")
        if self.base_delay < 0 or self.max_delay < 0:
            raise InvalidArgument("base_delay/max_delay", self.base_delay, "seconds >= 0")
        if self.factor < 1:
            raise InvalidArgument("factor", self.factor, "a number >= 1")

    def delay(self, failures: int, draw: float) -> float:
        """Return the wait after ``failures`` failures; ``draw`` is uniform in [0, 1)."""
        base = min(self.base_delay * self.factor ** max(failures - 1, 0), self.max_delay)
        return base / 2 + base / 2 * draw if self.jitter else base


@final
class DeliveryContext:
    """What a handler knows about the message it handles.

    Attributes:
        message_id: the message's id (stable across retries and restarts).
        topic: the topic it was published to.
        attempt: this attempt's number, 1 for the first delivery.
        phase: ``first``, ``base`` or ``revise`` (see the retry semantics).
        early: whether this attempt is the explicit early retry.
        target: ``(target_type, target_id)``.
        headers: the headers given at publish (read-only).
        references: reference chunks attached by the pattern engine (glimpse or revise).
        revision: the revise result (suggestions and the ``REVISION_SUBPROCESS`` marker)
            on a revise-phase attempt, else ``None``.
        last_error: the previous attempt's error text, if any.
    """

    # The fields are read from the delivery on demand: a handler that looks at none of them
    # pays for three assignments, not eleven.
    __slots__ = ("_d", "_early_requested", "references", "revision")

    def __init__(
        self,
        delivery: Delivery,
        references: tuple[Reference, ...] = (),
        revision: Revision | None = None,
    ) -> None:
        self._d = delivery
        self.references = references
        self.revision = revision
        self._early_requested = False

    @property
    def message_id(self) -> str:
        """The message's id."""
        return self._d.id

    @property
    def topic(self) -> str:
        """The topic the message was published to."""
        return self._d.topic

    @property
    def attempt(self) -> int:
        """This attempt's number (1 for the first delivery)."""
        return self._d.attempts + 1

    @property
    def phase(self) -> str:
        """``first``, ``base`` or ``revise``."""
        return self._d.phase

    @property
    def early(self) -> bool:
        """Whether this attempt is the explicit early retry."""
        return self._d.early

    @property
    def target(self) -> tuple[str, str]:
        """``(target_type, target_id)``."""
        return (self._d.target_type, self._d.target_id)

    @property
    def headers(self) -> Mapping[str, str]:
        """The headers given at publish (read-only)."""
        return MappingProxyType(self._d.headers)

    @property
    def last_error(self) -> str | None:
        """The previous attempt's error text, if any."""
        return self._d.last_error

    def request_early_retry(self) -> None:
        """Ask for the explicit early retry if this attempt fails (same as raising RetryEarly)."""
        self._early_requested = True

    @property
    def early_retry_requested(self) -> bool:
        """Whether :meth:`request_early_retry` was called."""
        return self._early_requested

    def __repr__(self) -> str:
        return (
            f"<DeliveryContext {self.message_id} topic={self.topic!r} attempt={self.attempt} "
            f"phase={self.phase}>"
        )
