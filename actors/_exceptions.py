"""Every error the built-in actors raise, under one root: :class:`ActorsError`."""

from __future__ import annotations

__all__ = (
    "ActorsError",
    "AnalyticsQueryError",
    "BrokerError",
    "BrokerFull",
    "DatabaseBusy",
    "DeadLetterNotFound",
    "EmbeddingError",
    "IndexCorrupt",
    "IndexMismatch",
    "InvalidArgument",
    "InvalidPayload",
    "InvalidQuery",
    "InvalidRetryPolicy",
    "InvalidTarget",
    "InvalidVectors",
    "MessageInFlight",
    "NoSubscriber",
    "RuntimeClosed",
    "ScheduledNotFound",
    "TopicConflict",
    "UnknownTopic",
    "UnsupportedDialect",
)


def _short(value: object, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


class ActorsError(Exception):
    """Root of every error raised by the built-in actors."""


class InvalidTarget(ActorsError, ValueError):
    """Raised when a retry target key is not a non-empty string of bounded length.

    Args:
        field: ``"target_type"`` or ``"target_id"``.
        value: the offending value (shown shortened in the message).
        problem: what is wrong with it.
    """

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"invalid {field} {_short(value)}: {problem}")


class InvalidRetryPolicy(ActorsError, ValueError):
    """Raised when a retry policy configuration has an invalid value.

    It derives from :class:`ValueError` so that msgspec, when it decodes a configuration
    (from TOML, JSON or a dict) and ``__post_init__`` raises it, reports it as a
    ``msgspec.ValidationError`` carrying both this message and the path of the policy.

    Args:
        field: the configuration field at fault.
        value: the value it was given.
        problem: what was expected.
    """

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        super().__init__(f"retry policy field {field!r} = {_short(value)}: {problem}")


class UnsupportedDialect(ActorsError, ValueError):
    """Raised when a statement is requested for a database dialect that has no upsert.

    Args:
        dialect: the dialect name that was asked for.
        supported: the dialect names that are supported.
    """

    def __init__(self, dialect: str, supported: tuple[str, ...]) -> None:
        self.dialect = dialect
        self.supported = supported
        super().__init__(
            f"no retry-record upsert for dialect {dialect!r}; supported: {', '.join(supported)}"
        )


class EmbeddingError(ActorsError, ValueError):
    """Raised when texts cannot be embedded (empty input, a non-string, a missing extra)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"cannot embed: {problem}")


class InvalidVectors(ActorsError, ValueError):
    """Raised by ``VectorIndex.add``/``delete`` for bad ids or vectors; the index is unchanged."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"invalid vectors or ids: {problem}")


class InvalidQuery(ActorsError, ValueError):
    """Raised by ``VectorIndex.search`` for a bad query vector, ``k`` or threshold."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"invalid query: {problem}")


class AnalyticsQueryError(ActorsError, ValueError):
    """Raised by ``Runtime.analytics`` for a range or bucket it cannot answer (``since`` not
    before ``until``, a bucket size other than 60 or 3600, too many buckets)."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"bad analytics query: {problem}")


class IndexMismatch(ActorsError):
    """Raised when a saved index was built by another embedder or for another dimension."""

    def __init__(self, path: str, field: str, expected: object, found: object) -> None:
        self.path = path
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(f"index at {path} has {field} {found!r}, expected {expected!r}")


class IndexCorrupt(ActorsError):
    """Raised when a saved index is missing, unreadable or fails its checksum."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"index at {path} is unusable: {problem}")


class BrokerError(ActorsError):
    """Root of the broker's and the runtime's errors."""


class UnknownTopic(BrokerError, LookupError):
    """Raised when publishing to or subscribing on a topic that was never declared."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(f"no topic named {topic!r}; declare it first")


class TopicConflict(BrokerError, ValueError):
    """Raised when a topic is declared again with different settings, or subscribed twice."""

    def __init__(self, topic: str, problem: str) -> None:
        self.topic = topic
        super().__init__(f"topic {topic!r}: {problem}")


class InvalidPayload(BrokerError, TypeError):
    """Raised by ``publish`` when a payload cannot be encoded or does not match the topic's type.

    Nothing is stored when this is raised.
    """

    def __init__(self, topic: str, problem: str) -> None:
        self.topic = topic
        self.problem = problem
        super().__init__(f"payload for topic {topic!r} refused: {problem}")


class BrokerFull(BrokerError):
    """Raised by ``publish_nowait`` when the topic's subscription has ``max_in_flight``
    messages waiting, or (``writer_full``) the database writer has ``max_pending_ops``
    writes waiting: an awaited ``publish`` would wait here."""

    def __init__(self, topic: str, in_flight: int, *, writer_full: bool = False) -> None:
        self.topic = topic
        self.in_flight = in_flight
        self.writer_full = writer_full
        what = "the database writer is full" if writer_full else f"{in_flight} messages in flight"
        super().__init__(f"topic {topic!r} is full ({what})")


class RuntimeClosed(BrokerError):
    """Raised when the runtime is not running (not started yet, stopping or stopped)."""

    def __init__(self, action: str) -> None:
        self.action = action
        super().__init__(f"cannot {action}: the runtime is not running")


class InvalidArgument(BrokerError, ValueError):
    """Raised when an argument of a broker, runtime or dead-letter call is out of range."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"invalid {name} {_short(value)}: expected {expected}")


class DeadLetterNotFound(BrokerError, LookupError):
    """Raised when a dead letter id does not exist."""

    def __init__(self, dead_letter_id: str) -> None:
        self.dead_letter_id = dead_letter_id
        super().__init__(f"no dead letter {dead_letter_id!r}")


class NoSubscriber(BrokerError):
    """Raised when publishing to a transient topic that has no subscription (nothing would keep
    the message)."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        super().__init__(f"transient topic {topic!r} has no subscription; subscribe first")


class ScheduledNotFound(BrokerError, LookupError):
    """Raised when no scheduled message (a retry waiting for its next attempt) has this id."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        super().__init__(f"no scheduled message {message_id!r}")


class MessageInFlight(BrokerError):
    """Raised when a scheduled message cannot be killed, deleted or retried now because its
    attempt was handed to a worker already (queued or running): its outcome decides what
    becomes of it. Nothing was changed; ask again once the attempt is over."""

    def __init__(self, message_id: str, action: str) -> None:
        self.message_id = message_id
        self.action = action
        super().__init__(
            f"cannot {action} message {message_id!r}: its attempt is in flight; "
            "try again once it finished"
        )


class DatabaseBusy(BrokerError):
    """Raised when an operator's request needs the latest state of a row and the database
    writer did not commit what was pending within ``seconds``. Nothing was changed."""

    def __init__(self, action: str, seconds: float) -> None:
        self.action = action
        self.seconds = seconds
        super().__init__(
            f"cannot {action} now: the database did not commit pending writes within "
            f"{seconds:g} s; try again"
        )
