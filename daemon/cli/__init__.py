"""The ``actorgrid`` command line (cyclopts): ``main`` is the console script.

Its command groups are listed in one place, ``_root.COMMANDS``, each in a module of its own.
Exit codes are documented in ``actorgrid --help`` (and ``ExitCode``).
"""

from __future__ import annotations

from ._main import main as main
from ._root import root as root

__all__ = ("main", "root")
