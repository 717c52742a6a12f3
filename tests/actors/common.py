"""Constants the actor tests share."""

from __future__ import annotations

T0 = 1_767_225_600.0
"""Where the fake clock starts: 2026-01-01 00:00 UTC."""
MIN = 60.0
"""One minute, in seconds."""
KEY = ("entity", "entity-123")
"""A retry target key."""
