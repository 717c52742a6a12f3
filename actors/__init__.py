"""actorgrid's built-in actors: broker, retry gate, dead letters and pattern engine."""

from __future__ import annotations
