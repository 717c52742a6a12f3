"""actorgrid.daemon: the long-lived service around the runtime.

The ``actorgrid`` command (``run``, the operator subcommands), the daemon process (config,
signals, the lock file, logs), its HTTP admin and intake API and its metrics. It uses the
runtime's public API only (``actorgrid``), nothing below it.
"""

from __future__ import annotations

from ._metrics import CONTENT_TYPE as CONTENT_TYPE
from ._metrics import PHASES as PHASES
from ._metrics import REASONS as REASONS
from ._metrics import RuntimeCollector as RuntimeCollector
from ._metrics import metric_families as metric_families
from ._metrics import render_metrics as render_metrics

__all__ = (
    "CONTENT_TYPE",
    "PHASES",
    "REASONS",
    "RuntimeCollector",
    "metric_families",
    "render_metrics",
)
