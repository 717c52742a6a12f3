"""``AlertMonitor`` over a hand-set signal source, on a fake clock: each alert fires when
its signal crosses the threshold and clears when it recovers, each transition logged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest
from structlog.testing import capture_logs

from actorgrid import FakeClock
from actorgrid.daemon.alerts import ALERT_NAMES, Alert, AlertMonitor, AlertSettings
from actorgrid.kernel.testing import wait_until

from .fakes import FakeSignals

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, MutableMapping, Sequence

    Logs = list[MutableMapping[str, Any]]

pytestmark = pytest.mark.anyio

SETTINGS = AlertSettings(
    interval=15.0,
    window=600.0,
    retry_rate=0.5,
    retry_min_attempts=20,
    dead_letters=10,
    writer_lag=30.0,
    restarts=0,
    not_ready_grace=60.0,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def source() -> FakeSignals:
    return FakeSignals()


@pytest.fixture
def logs() -> Iterator[Logs]:
    with capture_logs() as captured:
        yield captured


def make(source: FakeSignals, clock: FakeClock, **settings: Any) -> AlertMonitor:
    return AlertMonitor(source, msgspec.structs.replace(SETTINGS, **settings), clock)


def alert(monitor: AlertMonitor, name: str) -> Alert:
    return {a.name: a for a in monitor.alerts()}[name]


def transitions(logs: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, float, float]]:
    """``(event, name, value, threshold)`` of every alert_firing / alert_resolved."""
    return [
        (e["event"], e["name"], e["value"], e["threshold"])
        for e in logs
        if e["event"] in ("alert_firing", "alert_resolved")
    ]


async def at(monitor: AlertMonitor, clock: FakeClock, seconds: float) -> list[Alert]:
    """Move the clock by ``seconds`` and evaluate."""
    clock.advance(seconds)
    return await monitor.evaluate()


class TestStates:
    async def test_every_alert_starts_ok(self, source: FakeSignals, clock: FakeClock) -> None:
        """Before and after a quiet evaluation: every alert listed, ok, since the start,
        with its threshold from the settings; none active."""
        monitor = make(source, clock)
        start = clock.now()
        assert [a.name for a in monitor.alerts()] == list(ALERT_NAMES)
        clock.advance(5)
        found = await monitor.evaluate()
        assert [a.name for a in found] == list(ALERT_NAMES)
        assert {a.state for a in found} == {"ok"}
        assert {a.since for a in found} == {start}
        assert monitor.active() == []
        thresholds = {a.name: a.threshold for a in found}
        assert thresholds == {
            "retry_rate": 0.5,
            "dead_letters": 10.0,
            "writer_lag": 30.0,
            "gate_restarts": 0.0,
            "broker_restarts": 0.0,
            "not_ready": 60.0,
        }
        assert {a.name: a.severity for a in found} == {
            **dict.fromkeys(ALERT_NAMES, "warning"),
            "not_ready": "critical",
        }

    async def test_since_is_the_transition(self, source: FakeSignals, clock: FakeClock) -> None:
        """A firing alert keeps the time it started firing while its value moves; a
        resolved one gets the time it cleared."""
        monitor = make(source, clock)
        await monitor.evaluate()
        source.set(writer_lag=40.0)
        await at(monitor, clock, 15)
        fired = clock.now()
        source.set(writer_lag=50.0)
        await at(monitor, clock, 15)
        lag = alert(monitor, "writer_lag")
        assert (lag.state, lag.value, lag.since) == ("firing", 50.0, fired)
        source.set(writer_lag=1.0)
        await at(monitor, clock, 15)
        lag = alert(monitor, "writer_lag")
        assert (lag.state, lag.value, lag.since) == ("ok", 1.0, clock.now())


class TestRetryRate:
    async def test_fires_above_the_rate_and_clears_when_the_window_moves_on(
        self, source: FakeSignals, clock: FakeClock, logs: Logs
    ) -> None:
        monitor = make(source, clock)
        await monitor.evaluate()
        source.set(attempts=40, retries=30)
        await at(monitor, clock, 15)
        rate = alert(monitor, "retry_rate")
        assert (rate.state, rate.value, rate.since) == ("firing", 0.75, clock.now())
        assert "75% of 40 handler attempts" in rate.summary
        assert monitor.active() == [rate]
        assert transitions(logs) == [("alert_firing", "retry_rate", 0.75, 0.5)]
        firing = next(e for e in logs if e["event"] == "alert_firing")
        assert firing["log_level"] == "warning"
        assert firing["severity"] == "warning"

        await at(monitor, clock, 300)  # nothing new, but the attempts are still in the window
        assert alert(monitor, "retry_rate").state == "firing"
        await at(monitor, clock, 300)  # 600 s after the attempts: out of the window
        rate = alert(monitor, "retry_rate")
        assert (rate.state, rate.value) == ("ok", 0.0)
        assert transitions(logs)[1:] == [("alert_resolved", "retry_rate", 0.0, 0.5)]
        resolved = next(e for e in logs if e["event"] == "alert_resolved")
        assert resolved["log_level"] == "info"

    @pytest.mark.parametrize(
        ("attempts", "retries", "state"),
        [
            (19, 19, "ok"),  # every attempt a retry, but too few attempts
            (20, 10, "ok"),  # at the threshold, not above
            (20, 11, "firing"),
            (200, 101, "firing"),
            (200, 40, "ok"),
        ],
    )
    async def test_threshold_and_minimum(
        self, source: FakeSignals, clock: FakeClock, attempts: int, retries: int, state: str
    ) -> None:
        monitor = make(source, clock)
        await monitor.evaluate()
        source.set(attempts=attempts, retries=retries)
        await at(monitor, clock, 15)
        found = alert(monitor, "retry_rate")
        assert found.state == state
        assert found.value == pytest.approx(retries / attempts)


class TestDeadLetters:
    async def test_more_than_the_threshold_in_the_window(
        self, source: FakeSignals, clock: FakeClock, logs: Logs
    ) -> None:
        """Ten in the window is fine, eleven fire; the window slides: six dead letters
        that left it clear the alert while the six newer ones stay counted."""
        monitor = make(source, clock)
        await monitor.evaluate()
        source.set(dead_letters=10)
        await at(monitor, clock, 15)
        assert alert(monitor, "dead_letters").state == "ok"
        source.set(dead_letters=16)  # six more at t = 315 s; 16 in the window
        await at(monitor, clock, 300)
        dead = alert(monitor, "dead_letters")
        assert (dead.state, dead.value) == ("firing", 16.0)
        await at(monitor, clock, 315)  # t = 630: the ten of t = 15 left the window
        dead = alert(monitor, "dead_letters")
        assert (dead.state, dead.value) == ("ok", 6.0)
        assert transitions(logs) == [
            ("alert_firing", "dead_letters", 16.0, 10.0),
            ("alert_resolved", "dead_letters", 6.0, 10.0),
        ]

    async def test_a_threshold_of_zero_fires_on_one(
        self, source: FakeSignals, clock: FakeClock
    ) -> None:
        monitor = make(source, clock, dead_letters=0)
        await monitor.evaluate()
        source.set(dead_letters=1)
        await at(monitor, clock, 15)
        assert alert(monitor, "dead_letters").state == "firing"


class TestWriterLag:
    async def test_fires_above_the_lag_and_clears_when_the_writer_catches_up(
        self, source: FakeSignals, clock: FakeClock, logs: Logs
    ) -> None:
        monitor = make(source, clock)
        source.set(writer_lag=30.0)
        await monitor.evaluate()
        assert alert(monitor, "writer_lag").state == "ok"
        source.set(writer_lag=31.5)
        await at(monitor, clock, 15)
        lag = alert(monitor, "writer_lag")
        assert (lag.state, lag.value) == ("firing", 31.5)
        assert "31.5 s behind" in lag.summary
        source.set(writer_lag=0.0)
        await at(monitor, clock, 15)
        assert alert(monitor, "writer_lag").state == "ok"
        assert transitions(logs) == [
            ("alert_firing", "writer_lag", 31.5, 30.0),
            ("alert_resolved", "writer_lag", 0.0, 30.0),
        ]


class TestRestarts:
    async def test_each_actor_fires_its_own_alert(
        self, source: FakeSignals, clock: FakeClock, logs: Logs
    ) -> None:
        monitor = make(source, clock)
        await monitor.evaluate()
        source.set(restarts={"retry-gate": 1, "broker": 0})
        await at(monitor, clock, 15)
        assert [a.name for a in monitor.active()] == ["gate_restarts"]
        source.set(restarts={"retry-gate": 1, "broker": 2})
        await at(monitor, clock, 15)
        assert [a.name for a in monitor.active()] == ["gate_restarts", "broker_restarts"]
        assert alert(monitor, "broker_restarts").value == 2.0
        await at(monitor, clock, 600)  # both restarts left the window
        assert monitor.active() == []
        assert transitions(logs) == [
            ("alert_firing", "gate_restarts", 1.0, 0.0),
            ("alert_firing", "broker_restarts", 2.0, 0.0),
            ("alert_resolved", "gate_restarts", 0.0, 0.0),
            ("alert_resolved", "broker_restarts", 0.0, 0.0),
        ]

    async def test_restarts_up_to_the_threshold_are_tolerated(
        self, source: FakeSignals, clock: FakeClock
    ) -> None:
        monitor = make(source, clock, restarts=2)
        await monitor.evaluate()
        source.set(restarts={"retry-gate": 2})
        await at(monitor, clock, 15)
        assert monitor.active() == []
        source.set(restarts={"retry-gate": 3})
        await at(monitor, clock, 15)
        assert [a.name for a in monitor.active()] == ["gate_restarts"]


class TestNotReady:
    async def test_fires_after_the_grace_and_clears_when_ready(
        self, source: FakeSignals, clock: FakeClock, logs: Logs
    ) -> None:
        monitor = make(source, clock)
        source.set(not_ready="the database cannot be read: OperationalError: disk I/O error")
        await monitor.evaluate()
        down = alert(monitor, "not_ready")
        assert (down.state, down.value) == ("ok", 0.0)
        assert "disk I/O error" in down.summary
        await at(monitor, clock, 45)
        assert alert(monitor, "not_ready").state == "ok"
        await at(monitor, clock, 15)  # 60 s not ready: the grace is over
        down = alert(monitor, "not_ready")
        assert (down.state, down.value, down.severity) == ("firing", 60.0, "critical")
        source.set(not_ready=None)
        await at(monitor, clock, 15)
        assert alert(monitor, "not_ready").state == "ok"
        assert transitions(logs) == [
            ("alert_firing", "not_ready", 60.0, 60.0),
            ("alert_resolved", "not_ready", 0.0, 60.0),
        ]

    async def test_the_grace_starts_again_after_a_recovery(
        self, source: FakeSignals, clock: FakeClock
    ) -> None:
        monitor = make(source, clock)
        source.set(not_ready="the runtime is stopping")
        await monitor.evaluate()
        await at(monitor, clock, 45)
        source.set(not_ready=None)
        await at(monitor, clock, 15)
        source.set(not_ready="the runtime is stopping")
        await at(monitor, clock, 15)
        await at(monitor, clock, 45)  # 45 s since it went down again
        assert alert(monitor, "not_ready").state == "ok"

    async def test_no_grace_fires_at_once(self, source: FakeSignals, clock: FakeClock) -> None:
        monitor = make(source, clock, not_ready_grace=0.0)
        source.set(not_ready="actors not running: broker")
        await monitor.evaluate()
        assert [a.name for a in monitor.active()] == ["not_ready"]


class TestRun:
    async def test_evaluates_at_once_then_every_interval(
        self, source: FakeSignals, clock: FakeClock
    ) -> None:
        monitor = make(source, clock)
        async with anyio.create_task_group() as tg:
            tg.start_soon(monitor.run)
            await wait_until(lambda: source.reads == 1 and clock.sleepers == 1)
            source.set(writer_lag=99.0)
            clock.advance(14.0)
            await anyio.lowlevel.checkpoint()
            assert source.reads == 1
            clock.advance(1.0)
            await wait_until(lambda: source.reads == 2 and clock.sleepers == 1)
            assert [a.name for a in monitor.active()] == ["writer_lag"]
            tg.cancel_scope.cancel()

    async def test_a_failed_reading_is_logged_and_changes_nothing(
        self, source: FakeSignals, clock: FakeClock, logs: Logs
    ) -> None:
        monitor = make(source, clock)
        source.set(writer_lag=99.0)
        await monitor.evaluate()
        source.failure = RuntimeError("database is locked")
        async with anyio.create_task_group() as tg:
            tg.start_soon(monitor.run)
            await wait_until(lambda: source.reads == 2 and clock.sleepers == 1)
            assert [a.name for a in monitor.active()] == ["writer_lag"]
            source.failure = None
            source.set(writer_lag=0.0)
            clock.advance(15.0)
            await wait_until(lambda: source.reads == 3 and clock.sleepers == 1)
            assert monitor.active() == []
            tg.cancel_scope.cancel()
        failed = [e for e in logs if e["event"] == "alert_evaluation_failed"]
        assert failed == [
            {
                "event": "alert_evaluation_failed",
                "error": "RuntimeError: database is locked",
                "log_level": "warning",
            }
        ]
