"""The broker room: topics, subscriptions, deliveries, workers and scheduled redelivery.

It owns the ``messages`` table's state changes (written through the storage writer, each in
one transaction with the retry record it implies), the topics and their subscriptions, the
worker actors that run handlers, and the timers that redeliver scheduled work. It talks to
the retry gate (``CanRetry``, ``RecordFailure``, ``RecordSuccess``), the dead letters
(``FileDeadLetter``) and the pattern engine (``Glimpse``, ``Revise``, ``NoteFailure``) only
through their protocol messages, and to the kernel and storage below it.
"""

from __future__ import annotations

from ._broker import Broker as Broker
from ._broker import EarlyRetryResult as EarlyRetryResult
from ._broker import RequestEarlyRetry as RequestEarlyRetry
from ._broker import Subscribed as Subscribed
from ._core import BrokerCore as BrokerCore
from ._core import BrokerStatistics as BrokerStatistics
from ._core import SubscriptionState as SubscriptionState
from ._counters import OTHER_ERRORS as OTHER_ERRORS
from ._counters import TopicCounters as TopicCounters
from ._counters import TopicMetrics as TopicMetrics
from ._operator import DeleteScheduled as DeleteScheduled
from ._operator import KillScheduled as KillScheduled
from ._operator import RetryScheduledNow as RetryScheduledNow
from ._queue import WorkQueue as WorkQueue
from ._receipt import PublishReceipt as PublishReceipt
from ._scheduled import MAX_SCHEDULED_PAGE as MAX_SCHEDULED_PAGE
from ._scheduled import ScheduledMessage as ScheduledMessage
from ._scheduled import ScheduledPage as ScheduledPage
from ._scheduled import ScheduledReader as ScheduledReader
from ._types import DeliveryContext as DeliveryContext
from ._types import FallbackPolicy as FallbackPolicy
from ._types import Handler as Handler
from ._types import RetryEarly as RetryEarly
from ._types import Subscription as Subscription
from ._types import TopicSpec as TopicSpec
from ._worker import SubscriptionWorker as SubscriptionWorker
from ._worker import in_handler as in_handler

__all__ = (
    "MAX_SCHEDULED_PAGE",
    "OTHER_ERRORS",
    "Broker",
    "BrokerCore",
    "BrokerStatistics",
    "DeleteScheduled",
    "DeliveryContext",
    "EarlyRetryResult",
    "FallbackPolicy",
    "Handler",
    "KillScheduled",
    "PublishReceipt",
    "RequestEarlyRetry",
    "RetryEarly",
    "RetryScheduledNow",
    "ScheduledMessage",
    "ScheduledPage",
    "ScheduledReader",
    "Subscribed",
    "Subscription",
    "SubscriptionState",
    "SubscriptionWorker",
    "TopicCounters",
    "TopicMetrics",
    "TopicSpec",
    "WorkQueue",
    "in_handler",
)
