"""Property test: restart intensity follows the sliding-window rule for any crash timing."""

from __future__ import annotations

from collections import deque
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actorgrid.kernel import Actor, ChildSpec, FakeClock, Kernel, Message, SupervisorSpec
from actorgrid.kernel.testing import settle, wait_until


class Crash(Message, frozen=True):
    pass


class Crasher(Actor[Any]):
    def __init__(self, starts: list[int]) -> None:
        self.starts = starts

    async def on_start(self) -> None:
        self.starts.append(1)

    async def receive(self, message: Any) -> Any:
        raise RuntimeError("crash")


def reference(times: list[float], intensity: int, period: float) -> int:
    """Count escalations the OTP rule predicts: > intensity restarts within period."""
    window: deque[float] = deque()
    escalations = 0
    for now in times:
        window.append(now)
        while window and now - window[0] >= period:
            window.popleft()
        if len(window) > intensity:
            escalations += 1
            window.clear()  # the restarted supervisor starts with a fresh window
    return escalations


class TestIntensityProperty:
    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(
        gaps=st.lists(
            st.sampled_from([0.0, 0.5, 1.0, 2.5, 4.99, 5.0, 5.01, 12.0]), min_size=1, max_size=12
        ),
        intensity=st.integers(min_value=0, max_value=3),
    )
    async def test_escalations_match_the_window_rule(
        self, gaps: list[float], intensity: int
    ) -> None:
        """Escalations to the parent happen exactly when the reference window rule says."""
        period = 5.0
        clock = FakeClock()
        starts: list[int] = []
        spec = SupervisorSpec(
            intensity=intensity,
            period=period,
            children=(ChildSpec("crasher", lambda: Crasher(starts)),),
        )
        root = SupervisorSpec(intensity=1000, period=1.0)
        async with Kernel(clock=clock, root=root) as kernel:
            await kernel.spawn_supervisor("sup", spec)
            ref = kernel.lookup("crasher")
            times: list[float] = []
            for gap in gaps:
                clock.advance(gap)
                times.append(clock.monotonic())  # the same float arithmetic as the kernel
                expected_starts = len(starts) + 1
                await ref.tell(Crash())
                await wait_until(lambda n=expected_starts: len(starts) >= n)
                await settle()
            escalations = kernel.root.statistics().total_restarts
        assert escalations == reference(times, intensity, period)
        assert len(starts) == len(gaps) + 1
