"""actorgrid.daemon: the long-lived service around the runtime.

The ``actorgrid`` command (``actorgrid.daemon.cli``: ``run`` and the operator subcommands),
the daemon process (its config with a ``[daemon]`` section, signals, the lock file, the
token, logs) and its HTTP API (``actorgrid.daemon.api``). It uses the runtime's public faces
only (``actorgrid``, ``actorgrid.kernel``, ``actorgrid.storage``), nothing below them.
"""

from __future__ import annotations

from ._errors import AppLoadError as AppLoadError
from ._errors import BindRefused as BindRefused
from ._errors import DaemonError as DaemonError
from ._errors import DaemonLocked as DaemonLocked
from ._errors import ExitCode as ExitCode
from ._files import DaemonFiles as DaemonFiles
from ._loader import load_app as load_app
from ._lock import DaemonLock as DaemonLock
from ._metrics import CONTENT_TYPE as CONTENT_TYPE
from ._metrics import PHASES as PHASES
from ._metrics import REASONS as REASONS
from ._metrics import RuntimeCollector as RuntimeCollector
from ._metrics import metric_families as metric_families
from ._metrics import render_metrics as render_metrics
from ._process import run_daemon as run_daemon
from ._process import serve as serve
from ._settings import DaemonConfig as DaemonConfig
from ._settings import DaemonSettings as DaemonSettings
from ._settings import ValueSource as ValueSource
from ._settings import config_sources as config_sources
from ._settings import load_daemon_config as load_daemon_config
from ._settings import resolve_config_path as resolve_config_path
from ._token import ensure_token as ensure_token
from ._token import read_token as read_token

__all__ = (
    "CONTENT_TYPE",
    "PHASES",
    "REASONS",
    "AppLoadError",
    "BindRefused",
    "DaemonConfig",
    "DaemonError",
    "DaemonFiles",
    "DaemonLock",
    "DaemonLocked",
    "DaemonSettings",
    "ExitCode",
    "RuntimeCollector",
    "ValueSource",
    "config_sources",
    "ensure_token",
    "load_app",
    "load_daemon_config",
    "metric_families",
    "read_token",
    "render_metrics",
    "resolve_config_path",
    "run_daemon",
    "serve",
)
