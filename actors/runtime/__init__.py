"""How it is wired: the ``Runtime`` facade, ``RuntimeConfig`` and the ``App`` object.

``Runtime`` starts the standard tree under the kernel (the retry gate, the dead letters, the
pattern engine, the broker and the subscriptions supervisor), opens the database and the
storage writer, and stops them in order. It is the only place that knows every room; the
rooms know each other only through their protocol messages.
"""

from __future__ import annotations

from ._app import App as App
from ._app import HandlerDecl as HandlerDecl
from ._app import TopicDecl as TopicDecl
from ._config import AnalyticsSettings as AnalyticsSettings
from ._config import BrokerSettings as BrokerSettings
from ._config import GateSettings as GateSettings
from ._config import PatternSettings as PatternSettings
from ._config import RuntimeConfig as RuntimeConfig
from ._config import StorageSettings as StorageSettings
from ._runtime import Runtime as Runtime
from ._snapshots import ActorStatus as ActorStatus
from ._snapshots import GateDecisions as GateDecisions
from ._snapshots import RuntimeMetrics as RuntimeMetrics
from ._snapshots import RuntimeStatus as RuntimeStatus
from ._snapshots import TopicStatus as TopicStatus

__all__ = (
    "ActorStatus",
    "AnalyticsSettings",
    "App",
    "BrokerSettings",
    "GateDecisions",
    "GateSettings",
    "HandlerDecl",
    "PatternSettings",
    "Runtime",
    "RuntimeConfig",
    "RuntimeMetrics",
    "RuntimeStatus",
    "StorageSettings",
    "TopicDecl",
    "TopicStatus",
)
