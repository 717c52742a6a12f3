"""The gate-ask watchdog: one timer for every ask in flight, a warning once per stalled ask."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from actorgrid.actors.broker._stall import StallWatch


class _Time:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_an_ask_pending_past_the_threshold_is_reported_once() -> None:
    time = _Time()
    watch = StallWatch(5.0, now=time)
    slow = watch.begin("RecordFailure")
    time.now = 3.0
    quick = watch.begin("CanRetry")
    watch.end(quick)
    with capture_logs() as logs:
        assert watch.check() == []
        time.now = 5.0
        assert watch.check() == ["RecordFailure"]
        assert watch.check() == []
    assert [entry["event"] for entry in logs] == ["gate_stalled"]
    assert logs[0]["request"] == "RecordFailure"
    watch.end(slow)  # answered after its warning: nothing left to track
    assert watch.pending == 0


def test_answered_asks_leave_nothing_behind() -> None:
    time = _Time()
    watch = StallWatch(1.0, now=time)
    for _ in range(1000):
        watch.end(watch.begin("RecordFailure"))
    time.now = 10.0
    assert watch.pending == 0
    assert watch.check() == []


@pytest.mark.anyio
async def test_one_timer_serves_every_ask_and_stops_when_none_is_pending() -> None:
    watch = StallWatch(60.0)
    tokens = [watch.begin("RecordFailure") for _ in range(100)]
    handle = watch._handle
    assert handle is not None
    assert all(watch._handle is handle for _ in tokens)
    for token in tokens:
        watch.end(token)
    watch._fire()  # the timer's turn: nothing pending, so it is not re-armed
    assert watch._handle is None
    handle.cancel()
