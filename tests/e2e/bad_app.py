"""An application that declares a handler for a topic it never declared: importing fails."""

from __future__ import annotations

from actorgrid import App

__all__ = ("app", "handle")

app = App("bad")


@app.handler("missing")
async def handle(payload: object, ctx: object) -> None:
    """Never runs."""
