"""actorgrid.daemon: the long-lived service around the runtime.

The ``actorgrid`` command (``run``, the operator subcommands), the daemon process (config,
signals, the lock file, logs), its HTTP admin and intake API and its metrics. It uses the
runtime's public API only (``actorgrid``), nothing below it.
"""

from __future__ import annotations

__all__: tuple[str, ...] = ()
