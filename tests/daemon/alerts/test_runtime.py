"""``AlertMonitor`` over a real runtime on a fake clock: handlers that fail drive the retry
rate and the dead letters, crashed built-in actors the restarts, a stopped runtime the
readiness; each alert fires and clears, logged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from structlog.testing import capture_logs

from actorgrid import FakeClock
from actorgrid.daemon.alerts import AlertMonitor, AlertSettings, RuntimeSignals
from actorgrid.kernel import Message
from actorgrid.kernel.testing import settle, wait_until

from ...actors.conftest import RuntimeFactory
from ..scenario import Scenario
from .test_monitor import alert, transitions

if TYPE_CHECKING:
    from pathlib import Path

    from actorgrid import Runtime

pytestmark = pytest.mark.anyio

HOUR = 3600.0


class Crash(Message, frozen=True):
    """A message no built-in actor handles: a tell of it crashes the actor."""


def incarnations(rt: Runtime, name: str) -> int:
    """Restarts of the root's child ``name`` that completed (it runs again)."""
    assert rt.kernel is not None
    child = next(c for c in rt.kernel.root.which_children() if c.id == name)
    return child.restarts if child.running else -1


async def crash(rt: Runtime, clock: FakeClock, name: str) -> None:
    """Crash the root's child ``name``; move the clock past the supervisor's backoff (on
    the fake clock) and wait until it runs again."""
    assert rt.kernel is not None
    before = incarnations(rt, name)
    await rt.kernel.lookup(name).tell(Crash())
    await wait_until(lambda: incarnations(rt, name) == -1 or incarnations(rt, name) > before)
    clock.advance(10.0)
    await wait_until(lambda: incarnations(rt, name) == before + 1)


class TestRetryRateAndDeadLetters:
    async def test_the_scenario_fires_both_and_a_quiet_window_clears_them(
        self, tmp_path: Path
    ) -> None:
        """The daemon scenario (durable topics on SQLite, retries in every phase, dead
        letters of three reasons) over a 4 h window: 7 of its 13 handler attempts are
        retries and 3 messages die. A window later, with nothing new but one retry of the
        message still scheduled, both clear."""
        scenario = Scenario(tmp_path / "actorgrid.db", FakeClock())
        settings = AlertSettings(
            window=4 * HOUR, retry_rate=0.5, retry_min_attempts=10, dead_letters=2
        )
        with capture_logs() as logs:
            async with scenario.runtime() as rt:
                monitor = AlertMonitor(rt, settings, scenario.clock)
                assert {a.state for a in await monitor.evaluate()} == {"ok"}
                await scenario.drive(rt)  # 2.5 h of the fake clock
                await monitor.evaluate()
                rate, dead = alert(monitor, "retry_rate"), alert(monitor, "dead_letters")
                assert rate.state == "firing"
                assert rate.value == pytest.approx(7 / 13)
                assert (dead.state, dead.value) == ("firing", 3.0)
                assert [a.name for a in monitor.active()] == ["retry_rate", "dead_letters"]

                scenario.clock.advance(4 * HOUR)  # the late message's base retry is due
                await scenario.reach(rt, failed=11)
                await monitor.evaluate()
                assert monitor.active() == []
                assert alert(monitor, "retry_rate").value == 1.0  # 1 of 1: below the minimum
                assert alert(monitor, "dead_letters").value == 0.0
        assert transitions(logs) == [
            ("alert_firing", "retry_rate", pytest.approx(7 / 13), 0.5),
            ("alert_firing", "dead_letters", 3.0, 2.0),
            ("alert_resolved", "retry_rate", 1.0, 0.5),
            ("alert_resolved", "dead_letters", 0.0, 2.0),
        ]

    async def test_operator_kills_are_not_counted(self, tmp_path: Path) -> None:
        """A scheduled retry killed by the operator is a dead letter of reason ``killed``:
        it does not count towards ``dead_letters``."""
        runtimes = RuntimeFactory(tmp_path / "actorgrid.db")

        async def failing(payload: Any, ctx: Any) -> None:
            raise RuntimeError("upstream refused the connection")

        async with runtimes() as rt:
            monitor = AlertMonitor(rt, AlertSettings(dead_letters=0), runtimes.clock)
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", failing)
            await monitor.evaluate()
            await rt.publish("jobs", {"n": 1}, target=("job", "j-1"))
            await wait_until(lambda: rt.statistics().scheduled == 1)
            await rt.flush()
            page = await rt.scheduled()
            await rt.kill_scheduled(page.items[0].id)
            await wait_until(lambda: rt.statistics().dead == 1)
            await monitor.evaluate()
            assert alert(monitor, "dead_letters").value == 0.0
            signals = await RuntimeSignals(rt).read()
            assert (signals.attempts, signals.retries, signals.dead_letters) == (1, 0, 0)


class TestRestarts:
    @pytest.mark.parametrize(
        ("actor", "name"), [("retry-gate", "gate_restarts"), ("broker", "broker_restarts")]
    )
    async def test_a_crash_fires_and_the_window_clears_it(
        self, tmp_path: Path, actor: str, name: str
    ) -> None:
        runtimes = RuntimeFactory(tmp_path / "actorgrid.db")
        with capture_logs() as logs:
            async with runtimes(memory=True) as rt:
                monitor = AlertMonitor(rt, AlertSettings(window=600.0), runtimes.clock)
                await monitor.evaluate()
                await crash(rt, runtimes.clock, actor)
                await monitor.evaluate()
                assert [a.name for a in monitor.active()] == [name]
                assert alert(monitor, name).value == 1.0
                runtimes.clock.advance(600.0)
                await settle()
                await monitor.evaluate()
                assert monitor.active() == []
        assert transitions(logs) == [
            ("alert_firing", name, 1.0, 0.0),
            ("alert_resolved", name, 0.0, 0.0),
        ]


class TestNotReady:
    async def test_a_stopped_runtime_fires_after_the_grace(self, tmp_path: Path) -> None:
        """Ready while it runs; once stopped its readiness says so, the metrics still
        answer, and after the grace the alert fires."""
        runtimes = RuntimeFactory(tmp_path / "actorgrid.db")
        settings = AlertSettings(not_ready_grace=30.0)
        async with runtimes(memory=True) as rt:
            monitor = AlertMonitor(rt, settings, runtimes.clock)
            await monitor.evaluate()
            assert alert(monitor, "not_ready").summary == "ready"
        runtimes.clock.advance(15.0)
        await monitor.evaluate()
        down = alert(monitor, "not_ready")
        assert (down.state, down.value) == ("ok", 0.0)
        assert down.summary.endswith("the runtime is closed")
        runtimes.clock.advance(30.0)
        await monitor.evaluate()
        assert [a.name for a in monitor.active()] == ["not_ready"]


class TestSignals:
    async def test_what_a_runtime_reads_as(self, tmp_path: Path) -> None:
        """The signals of a runtime with a database: its handler attempts, retries, the
        writer's lag (nothing waits: 0), the watched actors' restarts, ready."""
        runtimes = RuntimeFactory(tmp_path / "actorgrid.db")
        async with runtimes() as rt:
            rt.declare_topic("jobs")

            async def handler(payload: Any, ctx: Any) -> None:
                pass

            await rt.subscribe("jobs", handler)
            await rt.publish("jobs", {"n": 1})
            await wait_until(lambda: rt.statistics().acked == 1)
            await rt.flush()
            await crash(rt, runtimes.clock, "broker")
            signals = await RuntimeSignals(rt).read()
        assert signals.attempts == 1
        assert signals.retries == 0
        assert signals.dead_letters == 0
        assert signals.writer_lag == 0.0
        assert signals.restarts == {"retry-gate": 0, "broker": 1}
        assert signals.not_ready is None
