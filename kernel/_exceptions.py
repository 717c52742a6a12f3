"""Every error the kernel raises, under one root: :class:`ActorError`."""

from __future__ import annotations

__all__ = (
    "ActorDeadError",
    "ActorError",
    "ActorStartError",
    "AskTimeout",
    "ConfigError",
    "MailboxFull",
    "MessageDecodeError",
    "MessageEncodeError",
    "NameTaken",
    "RestartLimitExceeded",
    "StrayCancellation",
)


class ActorError(Exception):
    """Root of every kernel error."""


class MailboxFull(ActorError):
    """Raised by ``tell_nowait`` when the receiver's mailbox is at capacity."""

    def __init__(self, actor: str, capacity: int) -> None:
        self.actor = actor
        self.capacity = capacity
        super().__init__(f"mailbox of {actor!r} is full ({capacity} messages)")


class ActorDeadError(ActorError):
    """Raised when a message is sent to, or awaited from, an actor that has stopped."""

    def __init__(self, actor: str) -> None:
        self.actor = actor
        super().__init__(f"actor {actor!r} is not running")


class AskTimeout(ActorError, TimeoutError):
    """Raised by ``ask`` when no reply arrived within its timeout."""

    def __init__(self, actor: str, message: object, timeout: float) -> None:
        self.actor = actor
        self.timeout = timeout
        super().__init__(f"{actor!r} did not answer {type(message).__name__} within {timeout:g} s")


class ActorStartError(ActorError):
    """Raised by ``spawn`` when the child's ``on_start`` failed; the cause is chained."""

    def __init__(self, actor: str, cause: BaseException) -> None:
        self.actor = actor
        super().__init__(f"actor {actor!r} failed to start: {cause!r}")


class RestartLimitExceeded(ActorError):
    """Raised by a supervisor to its parent when its children crashed too often.

    The supervisor has already stopped all of its children when this is raised.
    """

    def __init__(
        self, supervisor: str, intensity: int, period: float, child: str | None = None
    ) -> None:
        self.supervisor = supervisor
        self.intensity = intensity
        self.period = period
        self.child = child
        """The child whose exit was one restart too many (``None`` if unknown)."""
        last = f" (the last: {child!r})" if child is not None else ""
        super().__init__(
            f"supervisor {supervisor!r} exceeded {intensity} restarts in {period:g} s{last}"
        )


class NameTaken(ActorError):
    """Raised by ``spawn`` when another live actor already has the requested name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"an actor named {name!r} is already running")


class MessageEncodeError(ActorError, TypeError):
    """Raised when a message cannot be encoded (at ``tell`` under ``strict_messages``)."""

    def __init__(self, message: object, cause: BaseException) -> None:
        self.message_type = type(message).__name__
        super().__init__(f"cannot encode {self.message_type}: {cause}")


class MessageDecodeError(ActorError, ValueError):
    """Raised when bytes cannot be decoded as the expected message type."""

    def __init__(self, expected: object, cause: BaseException) -> None:
        self.expected = getattr(expected, "__name__", repr(expected))
        super().__init__(f"cannot decode as {self.expected}: {cause}")


class ConfigError(ActorError, ValueError):
    """Raised when configuration is invalid; names the source, the field and the expectation."""

    def __init__(self, source: str, field: str | None, problem: str) -> None:
        self.source = source
        self.field = field
        self.problem = problem
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {problem}")


class StrayCancellation(ActorError):
    """A ``CancelledError`` reached a handler while its own task was not being cancelled.

    It came from a future that someone else cancelled (the handler awaited it), so it is the
    handler's failure, not a request to stop: the kernel handles it like any other exception
    from ``receive``. The original ``CancelledError`` is chained as ``__cause__``.
    """
