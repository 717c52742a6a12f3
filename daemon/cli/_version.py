"""``actorgrid version``."""

from __future__ import annotations

import platform

from ._root import version_text

__all__ = ("version",)


def version() -> int:
    """Print the version of actorgrid and of the Python running it."""
    print(f"{version_text()} (Python {platform.python_version()})")
    return 0
