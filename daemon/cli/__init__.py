"""The ``actorgrid`` command line (cyclopts): ``main`` is the console script.

Its command groups are listed in one place, ``_root.COMMANDS``, each in a module of its own.
The operator commands (``publish``, ``status``, ``retries``, ``dlq``, ``jobs``, ``retry``,
``chunks``, ``patterns``, ``alerts``) call the daemon's HTTP API through one client
(``_client``).
Exit codes are documented in ``actorgrid --help``, ``ExitCode`` and ``docs/operations.md``.
"""

from __future__ import annotations

from ._main import main as main
from ._root import root as root

__all__ = ("main", "root")
