"""actorgrid: an asyncio actor-model runtime for Python.

This is the application-facing API, and all of it: the ``App`` object, the ``Runtime`` and
its configuration, what a handler sees (``DeliveryContext``, ``RetryEarly``, the attached
``Reference`` and ``Revision``), the retry policy on its own, the dead letters' API types,
the embedders, the clocks and the errors. Everything else lives in the subpackages:
``actorgrid.kernel`` (actors, supervision), ``actorgrid.storage`` (the engine, the writer,
migrations), ``actorgrid.actors`` (the built-in actors, each in its own room with its
protocol messages) and ``actorgrid.daemon`` (the ``actorgrid`` command and the service).

The names load on first use, so that ``import actorgrid.kernel`` does not pull in the built-in
actors (SQLAlchemy, numpy, hnswlib) with them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .actors import ActorsError as ActorsError
    from .actors import AnalyticsQueryError as AnalyticsQueryError
    from .actors import BrokerError as BrokerError
    from .actors import BrokerFull as BrokerFull
    from .actors import DatabaseBusy as DatabaseBusy
    from .actors import DeadLetterNotFound as DeadLetterNotFound
    from .actors import EmbeddingError as EmbeddingError
    from .actors import Envelope as Envelope
    from .actors import IndexCorrupt as IndexCorrupt
    from .actors import IndexMismatch as IndexMismatch
    from .actors import InvalidArgument as InvalidArgument
    from .actors import InvalidPayload as InvalidPayload
    from .actors import InvalidQuery as InvalidQuery
    from .actors import InvalidRetryPolicy as InvalidRetryPolicy
    from .actors import InvalidTarget as InvalidTarget
    from .actors import InvalidVectors as InvalidVectors
    from .actors import MessageInFlight as MessageInFlight
    from .actors import NoSubscriber as NoSubscriber
    from .actors import RuntimeClosed as RuntimeClosed
    from .actors import ScheduledNotFound as ScheduledNotFound
    from .actors import TopicConflict as TopicConflict
    from .actors import UnknownTopic as UnknownTopic
    from .actors import UnsupportedDialect as UnsupportedDialect
    from .actors.analytics import AnalyticsReport as AnalyticsReport
    from .actors.broker import BrokerStatistics as BrokerStatistics
    from .actors.broker import DeliveryContext as DeliveryContext
    from .actors.broker import EarlyRetryResult as EarlyRetryResult
    from .actors.broker import FallbackPolicy as FallbackPolicy
    from .actors.broker import Handler as Handler
    from .actors.broker import PublishReceipt as PublishReceipt
    from .actors.broker import RetryEarly as RetryEarly
    from .actors.broker import ScheduledMessage as ScheduledMessage
    from .actors.broker import ScheduledPage as ScheduledPage
    from .actors.broker import TopicMetrics as TopicMetrics
    from .actors.dead_letters import DeadLetterEntry as DeadLetterEntry
    from .actors.dead_letters import DeadLetterFilter as DeadLetterFilter
    from .actors.dead_letters import DeadLetterPage as DeadLetterPage
    from .actors.dead_letters import DeadLetters as DeadLetters
    from .actors.dead_letters import ReplayResult as ReplayResult
    from .actors.patterns import REVISION_SUBPROCESS as REVISION_SUBPROCESS
    from .actors.patterns import ChunkInput as ChunkInput
    from .actors.patterns import PatternSettings as PatternSettings
    from .actors.patterns import PatternStatistics as PatternStatistics
    from .actors.patterns import RecurringPattern as RecurringPattern
    from .actors.patterns import Reference as Reference
    from .actors.patterns import Revision as Revision
    from .actors.patterns.embedders import Embedder as Embedder
    from .actors.patterns.embedders import HashingEmbedder as HashingEmbedder
    from .actors.patterns.embedders import (
        SentenceTransformerEmbedder as SentenceTransformerEmbedder,
    )
    from .actors.patterns.embedders import Thresholds as Thresholds
    from .actors.patterns.index import Hit as Hit
    from .actors.retry import Decision as Decision
    from .actors.retry import InMemoryRetryStore as InMemoryRetryStore
    from .actors.retry import Phase as Phase
    from .actors.retry import Reason as Reason
    from .actors.retry import RetryGateStatistics as RetryGateStatistics
    from .actors.retry import RetryPolicyConfig as RetryPolicyConfig
    from .actors.retry import RetryPolicyManager as RetryPolicyManager
    from .actors.retry import RetryRecord as RetryRecord
    from .actors.retry import RetryStore as RetryStore
    from .actors.retry import SqlRetryStore as SqlRetryStore
    from .actors.runtime import ActorStatus as ActorStatus
    from .actors.runtime import AnalyticsSettings as AnalyticsSettings
    from .actors.runtime import App as App
    from .actors.runtime import BrokerSettings as BrokerSettings
    from .actors.runtime import GateDecisions as GateDecisions
    from .actors.runtime import GateSettings as GateSettings
    from .actors.runtime import Runtime as Runtime
    from .actors.runtime import RuntimeConfig as RuntimeConfig
    from .actors.runtime import RuntimeMetrics as RuntimeMetrics
    from .actors.runtime import RuntimeStatus as RuntimeStatus
    from .actors.runtime import StorageSettings as StorageSettings
    from .actors.runtime import TopicStatus as TopicStatus
    from .kernel import ActorDeadError as ActorDeadError
    from .kernel import AskTimeout as AskTimeout
    from .kernel import Clock as Clock
    from .kernel import ConfigError as ConfigError
    from .kernel import FakeClock as FakeClock
    from .kernel import HistogramSnapshot as HistogramSnapshot
    from .kernel import KernelConfig as KernelConfig
    from .kernel import SystemClock as SystemClock
    from .kernel import load_config as load_config
    from .storage import StorageError as StorageError
    from .storage import WriterStatistics as WriterStatistics

__all__ = (
    "REVISION_SUBPROCESS",
    "ActorDeadError",
    "ActorStatus",
    "ActorsError",
    "AnalyticsQueryError",
    "AnalyticsReport",
    "AnalyticsSettings",
    "App",
    "AskTimeout",
    "BrokerError",
    "BrokerFull",
    "BrokerSettings",
    "BrokerStatistics",
    "ChunkInput",
    "Clock",
    "ConfigError",
    "DatabaseBusy",
    "DeadLetterEntry",
    "DeadLetterFilter",
    "DeadLetterNotFound",
    "DeadLetterPage",
    "DeadLetters",
    "Decision",
    "DeliveryContext",
    "EarlyRetryResult",
    "Embedder",
    "EmbeddingError",
    "Envelope",
    "FakeClock",
    "FallbackPolicy",
    "GateDecisions",
    "GateSettings",
    "Handler",
    "HashingEmbedder",
    "HistogramSnapshot",
    "Hit",
    "InMemoryRetryStore",
    "IndexCorrupt",
    "IndexMismatch",
    "InvalidArgument",
    "InvalidPayload",
    "InvalidQuery",
    "InvalidRetryPolicy",
    "InvalidTarget",
    "InvalidVectors",
    "KernelConfig",
    "MessageInFlight",
    "NoSubscriber",
    "PatternSettings",
    "PatternStatistics",
    "Phase",
    "PublishReceipt",
    "Reason",
    "RecurringPattern",
    "Reference",
    "ReplayResult",
    "RetryEarly",
    "RetryGateStatistics",
    "RetryPolicyConfig",
    "RetryPolicyManager",
    "RetryRecord",
    "RetryStore",
    "Revision",
    "Runtime",
    "RuntimeClosed",
    "RuntimeConfig",
    "RuntimeMetrics",
    "RuntimeStatus",
    "ScheduledMessage",
    "ScheduledNotFound",
    "ScheduledPage",
    "SentenceTransformerEmbedder",
    "SqlRetryStore",
    "StorageError",
    "StorageSettings",
    "SystemClock",
    "Thresholds",
    "TopicConflict",
    "TopicMetrics",
    "TopicStatus",
    "UnknownTopic",
    "UnsupportedDialect",
    "WriterStatistics",
    "load_config",
)

_HOMES: dict[str, str] = {
    "ActorsError": ".actors",
    "AnalyticsQueryError": ".actors",
    "AnalyticsReport": ".actors.analytics",
    "BrokerError": ".actors",
    "BrokerFull": ".actors",
    "DatabaseBusy": ".actors",
    "DeadLetterNotFound": ".actors",
    "EmbeddingError": ".actors",
    "Envelope": ".actors",
    "IndexCorrupt": ".actors",
    "IndexMismatch": ".actors",
    "InvalidArgument": ".actors",
    "InvalidPayload": ".actors",
    "InvalidQuery": ".actors",
    "InvalidRetryPolicy": ".actors",
    "InvalidTarget": ".actors",
    "InvalidVectors": ".actors",
    "MessageInFlight": ".actors",
    "NoSubscriber": ".actors",
    "RuntimeClosed": ".actors",
    "ScheduledNotFound": ".actors",
    "TopicConflict": ".actors",
    "UnknownTopic": ".actors",
    "UnsupportedDialect": ".actors",
    "BrokerStatistics": ".actors.broker",
    "DeliveryContext": ".actors.broker",
    "EarlyRetryResult": ".actors.broker",
    "PublishReceipt": ".actors.broker",
    "ScheduledMessage": ".actors.broker",
    "ScheduledPage": ".actors.broker",
    "FallbackPolicy": ".actors.broker",
    "Handler": ".actors.broker",
    "RetryEarly": ".actors.broker",
    "TopicMetrics": ".actors.broker",
    "DeadLetterEntry": ".actors.dead_letters",
    "DeadLetterFilter": ".actors.dead_letters",
    "DeadLetterPage": ".actors.dead_letters",
    "DeadLetters": ".actors.dead_letters",
    "ReplayResult": ".actors.dead_letters",
    "REVISION_SUBPROCESS": ".actors.patterns",
    "ChunkInput": ".actors.patterns",
    "PatternSettings": ".actors.patterns",
    "PatternStatistics": ".actors.patterns",
    "RecurringPattern": ".actors.patterns",
    "Reference": ".actors.patterns",
    "Revision": ".actors.patterns",
    "Embedder": ".actors.patterns.embedders",
    "HashingEmbedder": ".actors.patterns.embedders",
    "SentenceTransformerEmbedder": ".actors.patterns.embedders",
    "Thresholds": ".actors.patterns.embedders",
    "Hit": ".actors.patterns.index",
    "Decision": ".actors.retry",
    "InMemoryRetryStore": ".actors.retry",
    "Phase": ".actors.retry",
    "Reason": ".actors.retry",
    "RetryPolicyConfig": ".actors.retry",
    "RetryGateStatistics": ".actors.retry",
    "RetryPolicyManager": ".actors.retry",
    "RetryRecord": ".actors.retry",
    "RetryStore": ".actors.retry",
    "SqlRetryStore": ".actors.retry",
    "App": ".actors.runtime",
    "ActorStatus": ".actors.runtime",
    "AnalyticsSettings": ".actors.runtime",
    "BrokerSettings": ".actors.runtime",
    "GateDecisions": ".actors.runtime",
    "RuntimeMetrics": ".actors.runtime",
    "RuntimeStatus": ".actors.runtime",
    "TopicStatus": ".actors.runtime",
    "GateSettings": ".actors.runtime",
    "Runtime": ".actors.runtime",
    "RuntimeConfig": ".actors.runtime",
    "StorageSettings": ".actors.runtime",
    "ActorDeadError": ".kernel",
    "AskTimeout": ".kernel",
    "Clock": ".kernel",
    "ConfigError": ".kernel",
    "FakeClock": ".kernel",
    "HistogramSnapshot": ".kernel",
    "KernelConfig": ".kernel",
    "SystemClock": ".kernel",
    "load_config": ".kernel",
    "StorageError": ".storage",
    "WriterStatistics": ".storage",
}
"""Where each public name is defined: the face of its subpackage."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'actorgrid' has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
