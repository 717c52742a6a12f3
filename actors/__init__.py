"""actorgrid's built-in actors, one room (subpackage) each, and the runtime that wires them.

- ``broker``: topics, subscriptions, deliveries, workers, scheduled redelivery;
- ``retry``: the retry policy, its manager and stores, and the retry gate actor;
- ``dead_letters``: the dead-letter queue actor, its stores and the ``DeadLetters`` API;
- ``patterns``: the pattern engine, its chunk store, vector index and embedders;
- ``analytics``: the per-topic time buckets written behind, and the report read from them;
- ``runtime``: the ``Runtime`` facade and ``RuntimeConfig`` that start the standard tree.

The rooms form a one-way graph: ``retry`` and ``patterns`` use only the kernel and storage;
``dead_letters`` uses ``retry``; ``broker`` uses all three; ``analytics`` reads the broker's
counters; ``runtime`` wires them all. Each
room imports another only through that room's face, and its protocol messages are importable
from there, not from the application-facing ``actorgrid``. This package's own face holds what
every room shares: the error tree and the message envelope.
"""

from __future__ import annotations

from ._delivery import Envelope as Envelope
from ._exceptions import ActorsError as ActorsError
from ._exceptions import AnalyticsQueryError as AnalyticsQueryError
from ._exceptions import BrokerError as BrokerError
from ._exceptions import BrokerFull as BrokerFull
from ._exceptions import DatabaseBusy as DatabaseBusy
from ._exceptions import DeadLetterNotFound as DeadLetterNotFound
from ._exceptions import EmbeddingError as EmbeddingError
from ._exceptions import IndexCorrupt as IndexCorrupt
from ._exceptions import IndexMismatch as IndexMismatch
from ._exceptions import InvalidArgument as InvalidArgument
from ._exceptions import InvalidPayload as InvalidPayload
from ._exceptions import InvalidQuery as InvalidQuery
from ._exceptions import InvalidRetryPolicy as InvalidRetryPolicy
from ._exceptions import InvalidTarget as InvalidTarget
from ._exceptions import InvalidVectors as InvalidVectors
from ._exceptions import MessageInFlight as MessageInFlight
from ._exceptions import NoSubscriber as NoSubscriber
from ._exceptions import RuntimeClosed as RuntimeClosed
from ._exceptions import ScheduledNotFound as ScheduledNotFound
from ._exceptions import TopicConflict as TopicConflict
from ._exceptions import UnknownTopic as UnknownTopic
from ._exceptions import UnsupportedDialect as UnsupportedDialect

__all__ = (
    "ActorsError",
    "AnalyticsQueryError",
    "BrokerError",
    "BrokerFull",
    "DatabaseBusy",
    "DeadLetterNotFound",
    "EmbeddingError",
    "Envelope",
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
