"""``bench.load.app:app``: the load application with its defaults (durable, 4 workers)."""

from __future__ import annotations

from typing import Final

from ._app import LOAD_TOPIC, LoadPayload, load_app

__all__ = ("LOAD_TOPIC", "LoadPayload", "app")

app: Final = load_app()
"""The default ``--app`` of ``python -m bench.load``."""
