"""actorgrid's kernel: actors, refs, mailboxes, supervision, messages and codec, clock, config,
and the fixed-bucket histogram the runtime's metrics count with."""

from __future__ import annotations

from ._actor import Actor as Actor
from ._actor import UnhandledMessage as UnhandledMessage
from ._cancellation import being_cancelled as being_cancelled
from ._cancellation import stray_failure as stray_failure
from ._clock import Clock as Clock
from ._clock import FakeClock as FakeClock
from ._clock import SystemClock as SystemClock
from ._codec import Message as Message
from ._codec import decode as decode
from ._codec import encode as encode
from ._codec import roundtrip as roundtrip
from ._config import load_config as load_config
from ._dead_letters import DeadLetterLog as DeadLetterLog
from ._dead_letters import DeadLetterStatistics as DeadLetterStatistics
from ._entry import run as run
from ._entry import uvloop_available as uvloop_available
from ._exceptions import ActorDeadError as ActorDeadError
from ._exceptions import ActorError as ActorError
from ._exceptions import ActorStartError as ActorStartError
from ._exceptions import AskTimeout as AskTimeout
from ._exceptions import ConfigError as ConfigError
from ._exceptions import MailboxFull as MailboxFull
from ._exceptions import MessageDecodeError as MessageDecodeError
from ._exceptions import MessageEncodeError as MessageEncodeError
from ._exceptions import NameTaken as NameTaken
from ._exceptions import RestartLimitExceeded as RestartLimitExceeded
from ._exceptions import StrayCancellation as StrayCancellation
from ._histogram import Histogram as Histogram
from ._histogram import HistogramSnapshot as HistogramSnapshot
from ._histogram import latency_histogram as latency_histogram
from ._kernel import Kernel as Kernel
from ._kernel import KernelConfig as KernelConfig
from ._lazy import lazy_names as lazy_names
from ._logging import configure_logging as configure_logging
from ._logging import reset_logging as reset_logging
from ._mailbox import Mailbox as Mailbox
from ._mailbox import MailboxStatistics as MailboxStatistics
from ._ref import ActorRef as ActorRef
from ._specs import ChildSpec as ChildSpec
from ._specs import Restart as Restart
from ._specs import StopOrder as StopOrder
from ._specs import Strategy as Strategy
from ._specs import SupervisorSpec as SupervisorSpec
from ._supervisor import ChildInfo as ChildInfo
from ._supervisor import Supervisor as Supervisor
from ._supervisor import SupervisorStatistics as SupervisorStatistics
from ._timers import OneShotTimer as OneShotTimer
from ._timers import send_every as send_every

__all__ = (
    "Actor",
    "ActorDeadError",
    "ActorError",
    "ActorRef",
    "ActorStartError",
    "AskTimeout",
    "ChildInfo",
    "ChildSpec",
    "Clock",
    "ConfigError",
    "DeadLetterLog",
    "DeadLetterStatistics",
    "FakeClock",
    "Histogram",
    "HistogramSnapshot",
    "Kernel",
    "KernelConfig",
    "Mailbox",
    "MailboxFull",
    "MailboxStatistics",
    "Message",
    "MessageDecodeError",
    "MessageEncodeError",
    "NameTaken",
    "OneShotTimer",
    "Restart",
    "RestartLimitExceeded",
    "StopOrder",
    "Strategy",
    "StrayCancellation",
    "Supervisor",
    "SupervisorSpec",
    "SupervisorStatistics",
    "SystemClock",
    "UnhandledMessage",
    "being_cancelled",
    "configure_logging",
    "decode",
    "encode",
    "latency_histogram",
    "lazy_names",
    "load_config",
    "reset_logging",
    "roundtrip",
    "run",
    "send_every",
    "stray_failure",
    "uvloop_available",
)
