"""The reliability scenarios use the built-in actors' runtime factory."""

from __future__ import annotations

from ..actors.conftest import runtimes

__all__ = ("runtimes",)
