"""The application ``bench/daemon.py`` runs under the daemon: one durable topic, a no-op
handler, so that the figures are the intake's and the broker's, not a handler's."""

from __future__ import annotations

from typing import Any

from actorgrid import App, DeliveryContext

TOPIC = "bench"

app = App("bench")
app.topic(TOPIC)


@app.handler(TOPIC, concurrency=4, max_in_flight=1000)
async def handle(payload: Any, ctx: DeliveryContext) -> None:
    """Count nothing, do nothing: the message is acked."""
