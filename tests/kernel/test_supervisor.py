"""Tests of OTP supervision: strategies, restart types, intensity, backoff, ordered shutdown."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from actorgrid.kernel import (
    Actor,
    ActorStartError,
    ChildSpec,
    FakeClock,
    Kernel,
    KernelConfig,
    Message,
    RestartLimitExceeded,
    Strategy,
    SupervisorSpec,
)
from actorgrid.kernel.testing import settle, wait_until


class Crash(Message, frozen=True):
    pass


class Quit(Message, frozen=True):
    pass


class Ping(Message, frozen=True):
    pass


class Recorder(Actor[Any]):
    """Writes ``name:start`` / ``name:stop`` / ``name:crash`` to a shared journal."""

    def __init__(self, journal: list[str], *, hang_on_stop: bool = False) -> None:
        self.journal = journal
        self.hang_on_stop = hang_on_stop

    async def on_start(self) -> None:
        self.journal.append(f"{self.actor_name}:start")

    async def on_stop(self) -> None:
        if self.hang_on_stop:
            self.journal.append(f"{self.actor_name}:hang")
            await anyio.sleep_forever()
        self.journal.append(f"{self.actor_name}:stop")

    async def receive(self, message: Any) -> Any:
        match message:
            case Crash():
                self.journal.append(f"{self.actor_name}:crash")
                raise RuntimeError("crash requested")
            case Quit():
                self.actor_stop()
            case Ping():
                return "pong"
        return None


def child(journal: list[str], name: str, **kwargs: Any) -> ChildSpec:
    hang = kwargs.pop("hang_on_stop", False)
    return ChildSpec(name, lambda: Recorder(journal, hang_on_stop=hang), **kwargs)


def tree(journal: list[str], strategy: Strategy, intensity: int = 5) -> SupervisorSpec:
    return SupervisorSpec(
        strategy=strategy,
        intensity=intensity,
        period=10,
        children=tuple(child(journal, n) for n in ("a", "b", "c")),
    )


async def crash_and_settle(kernel: Kernel, name: str, journal: list[str], expect: int) -> None:
    before = len(journal)
    await kernel.lookup(name).tell(Crash())
    await wait_until(lambda: len(journal) >= before + expect)
    await settle()


class TestStrategies:
    async def test_one_for_one_restarts_only_the_crashed_child(self) -> None:
        """one_for_one: only the crashed child stops and starts again."""
        journal: list[str] = []
        async with Kernel(clock=FakeClock()) as kernel:
            await kernel.spawn_supervisor("sup", tree(journal, "one_for_one"))
            journal.clear()
            await crash_and_settle(kernel, "b", journal, 3)
            assert journal == ["b:crash", "b:stop", "b:start"]

    async def test_one_for_all_restarts_every_child_in_order(self) -> None:
        """one_for_all: the others stop in reverse order, then all start in order."""
        journal: list[str] = []
        async with Kernel(clock=FakeClock()) as kernel:
            await kernel.spawn_supervisor("sup", tree(journal, "one_for_all"))
            journal.clear()
            await crash_and_settle(kernel, "b", journal, 7)
            assert journal == [
                "b:crash", "b:stop", "c:stop", "a:stop", "a:start", "b:start", "c:start"
            ]  # fmt: skip

    async def test_rest_for_one_restarts_the_child_and_those_after_it(self) -> None:
        """rest_for_one: children started after the crashed one restart with it."""
        journal: list[str] = []
        async with Kernel(clock=FakeClock()) as kernel:
            await kernel.spawn_supervisor("sup", tree(journal, "rest_for_one"))
            journal.clear()
            await crash_and_settle(kernel, "b", journal, 5)
            assert journal == ["b:crash", "b:stop", "c:stop", "b:start", "c:start"]
            journal.clear()
            await crash_and_settle(kernel, "c", journal, 3)
            assert journal == ["c:crash", "c:stop", "c:start"]

    async def test_refs_stay_valid_across_restarts(self) -> None:
        """A ref taken before a crash reaches the restarted incarnation."""
        journal: list[str] = []
        async with Kernel(clock=FakeClock()) as kernel:
            ref = await kernel.spawn(lambda: Recorder(journal), name="r")
            await ref.tell(Crash())
            assert await ref.ask(Ping()) == "pong"
            assert journal.count("r:start") == 2


class TestRestartTypes:
    @pytest.mark.parametrize(
        ("restart", "after_crash", "after_quit"),
        [("permanent", True, True), ("transient", True, False), ("temporary", False, False)],
    )
    async def test_restart_types(self, restart: Any, after_crash: bool, after_quit: bool) -> None:
        """permanent always restarts, transient only after a crash, temporary never."""
        journal: list[str] = []
        async with Kernel(clock=FakeClock()) as kernel:
            for trigger, expected in ((Crash(), after_crash), (Quit(), after_quit)):
                ref = await kernel.spawn(lambda: Recorder(journal), name="x", restart=restart)
                journal.clear()
                await ref.tell(trigger)
                await wait_until(lambda: "x:stop" in journal)
                await settle()
                assert ("x:start" in journal) is expected
                assert ref.is_alive is expected
                if expected:
                    await kernel.stop_actor("x")


class TestIntensity:
    async def test_exceeding_intensity_escalates_to_the_parent(self) -> None:
        """A nested supervisor past its intensity stops its children and is restarted."""
        journal: list[str] = []
        clock = FakeClock()
        async with Kernel(clock=clock) as kernel:
            sup = await kernel.spawn_supervisor("sup", tree(journal, "one_for_one", intensity=1))
            await crash_and_settle(kernel, "a", journal, 3)
            assert sup.statistics().restarts_in_window == 1
            journal.clear()
            await crash_and_settle(kernel, "a", journal, 6)
            # the second crash within the period exceeds intensity 1: the supervisor stops
            # b and c (reverse order), and the root restarts it, which restarts a, b, c.
            assert journal[:3] == ["a:crash", "a:stop", "c:stop"]
            await wait_until(lambda: journal.count("c:start") == 1)
            assert journal[3:] == ["b:stop", "a:start", "b:start", "c:start"]
            assert kernel.root.statistics().total_restarts == 1
            assert sup.statistics().restarts_in_window == 0

    async def test_window_forgets_old_restarts(self) -> None:
        """Restarts older than the period do not count against the intensity."""
        journal: list[str] = []
        clock = FakeClock()
        async with Kernel(clock=clock) as kernel:
            sup = await kernel.spawn_supervisor("sup", tree(journal, "one_for_one", intensity=1))
            for _ in range(4):
                await crash_and_settle(kernel, "a", journal, 3)
                clock.advance(10)
            assert sup.statistics().total_restarts == 4
            assert kernel.root.statistics().total_restarts == 0

    async def test_root_past_intensity_fails_the_kernel(self) -> None:
        """When the root gives up, leaving the kernel raises RestartLimitExceeded."""
        journal: list[str] = []
        config = KernelConfig(root_intensity=1, root_period=5)
        kernel = Kernel(config, clock=FakeClock())

        async def crash_twice() -> None:
            async with kernel:
                ref = await kernel.spawn(lambda: Recorder(journal), name="r")
                await ref.tell(Crash())
                await wait_until(lambda: journal.count("r:start") == 2)
                await ref.tell(Crash())
                await kernel.wait_stopped()
                await anyio.sleep_forever()

        with capture_logs() as logs, pytest.raises(RestartLimitExceeded, match="root") as info:
            await crash_twice()
        assert kernel.failure is not None
        assert journal[-1] == "r:stop"
        assert info.value.child == "r"
        assert "the last: 'r'" in str(info.value)
        [event] = [e for e in logs if e["event"] == "restart_limit_exceeded"]
        assert event["log_level"] == "error"
        assert (event["supervisor"], event["child"], event["intensity"]) == ("root", "r", 1)

    async def test_start_failure_on_spawn(self) -> None:
        """A child whose on_start raises is not kept and spawn raises ActorStartError."""

        class Broken(Actor[Any]):
            async def on_start(self) -> None:
                raise OSError("no such device")

        async with Kernel(clock=FakeClock()) as kernel:
            with pytest.raises(ActorStartError, match="no such device"):
                await kernel.spawn(Broken, name="broken")
            with pytest.raises(LookupError):
                kernel.lookup("broken")


class TestBackoff:
    async def test_restart_waits_for_the_backoff_delay(self) -> None:
        """With a backoff, the restart happens only after the clock passes the delay."""
        journal: list[str] = []
        clock = FakeClock()
        spec = SupervisorSpec(
            intensity=5, period=60, backoff_initial=2.0, backoff_jitter=0.0,
            children=(child(journal, "a"),),
        )  # fmt: skip
        async with Kernel(clock=clock) as kernel:
            await kernel.spawn_supervisor("sup", spec)
            journal.clear()
            await crash_and_settle(kernel, "a", journal, 2)
            assert journal == ["a:crash", "a:stop"]
            clock.advance(1.9)
            await settle()
            assert "a:start" not in journal
            clock.advance(0.1)
            await wait_until(lambda: "a:start" in journal)
            journal.clear()
            await crash_and_settle(kernel, "a", journal, 2)
            assert clock.next_deadline() == pytest.approx(clock.now() + 4.0)  # doubled
            clock.advance(4.0)
            await wait_until(lambda: "a:start" in journal)

    async def test_a_stop_does_not_wait_for_a_restart_delay(self) -> None:
        """A supervisor waiting out a restart delay stops at once when asked to (the fake
        clock is never advanced here: waiting for the delay would hang)."""
        journal: list[str] = []
        spec = SupervisorSpec(
            intensity=5, period=60, backoff_initial=30.0, backoff_jitter=0.0,
            children=(child(journal, "a"), child(journal, "b")),
        )  # fmt: skip
        async with Kernel(clock=FakeClock()) as kernel:
            await kernel.spawn_supervisor("sup", spec)
            journal.clear()
            await crash_and_settle(kernel, "a", journal, 2)
            with anyio.fail_after(5):
                await kernel.stop()
        assert journal == ["a:crash", "a:stop", "b:stop"]  # a is not restarted to be stopped

    def test_delay_bounds(self) -> None:
        """restart_delay doubles per restart, caps at backoff_max, and jitter only shortens."""
        spec = SupervisorSpec(backoff_initial=1.0, backoff_max=5.0, backoff_jitter=0.5)
        assert spec.restart_delay(1, 0.0) == 1.0
        assert spec.restart_delay(3, 0.0) == 4.0
        assert spec.restart_delay(10, 0.0) == 5.0
        assert spec.restart_delay(10, 0.999) == pytest.approx(5.0 * (1 - 0.5 * 0.999))
        assert SupervisorSpec().restart_delay(3, 0.5) == 0.0


class TestShutdown:
    async def test_reverse_order_even_when_a_child_hangs(self) -> None:
        """Shutdown goes in reverse order; a hanging child is cancelled after its timeout."""
        journal: list[str] = []
        spec = SupervisorSpec(
            children=(
                child(journal, "a"),
                child(journal, "b", hang_on_stop=True, shutdown=0.05),
                child(journal, "c"),
            )
        )
        async with Kernel(clock=FakeClock(), root=spec):
            pass
        assert journal == ["a:start", "b:start", "c:start", "c:stop", "b:hang", "a:stop"]

    async def test_kernel_exit_stops_nested_supervisors_in_reverse_order(self) -> None:
        """Leaving the kernel stops nested trees depth-first, last started first."""
        journal: list[str] = []
        async with Kernel(clock=FakeClock()) as kernel:
            await kernel.spawn(lambda: Recorder(journal), name="first")
            await kernel.spawn_supervisor("sup", tree(journal, "one_for_one"))
            await kernel.spawn(lambda: Recorder(journal), name="last")
        assert journal[-5:] == ["last:stop", "c:stop", "b:stop", "a:stop", "first:stop"]

    async def test_invalid_specs(self) -> None:
        """Bad supervisor and child specs are refused at construction."""
        with pytest.raises(ValueError, match="strategy"):
            SupervisorSpec(strategy="one_for_some")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="period"):
            SupervisorSpec(period=0)
        with pytest.raises(ValueError, match="intensity"):
            SupervisorSpec(intensity=-1)
        with pytest.raises(ValueError, match="unique"):
            SupervisorSpec(children=(ChildSpec("a", Actor), ChildSpec("a", Actor)))
        with pytest.raises(ValueError, match="restart"):
            ChildSpec("a", Actor, restart="sometimes")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="non-empty"):
            ChildSpec("", Actor)
        with pytest.raises(ValueError, match="capacity"):
            ChildSpec("a", Actor, capacity=0)
