"""Tests of the real and fake clocks (kernel/_clock.py)."""

from __future__ import annotations

import time

import anyio
import pytest

from actorgrid.kernel import Clock, FakeClock, SystemClock
from actorgrid.kernel.testing import settle


class TestFakeClock:
    async def test_sleepers_wake_in_deadline_order_only_when_due(self) -> None:
        """advance wakes exactly the sleepers whose deadline has passed, earliest first."""
        clock = FakeClock()
        woke: list[str] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append(name)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sleeper, "late", 30 * 60)
            tg.start_soon(sleeper, "early", 20 * 60)
            await settle()
            clock.advance(20 * 60 - 1)
            await settle()
            assert woke == []
            clock.advance(1)
            await settle()
            assert woke == ["early"]
            clock.advance(10 * 60)
        assert woke == ["early", "late"]

    async def test_sleep_until_past_returns_at_once(self) -> None:
        """sleep_until a time already reached does not wait."""
        clock = FakeClock()
        await clock.sleep_until(clock.now() - 5)
        assert clock.sleepers == 0

    def test_time_never_goes_back(self) -> None:
        """advance and set refuse to move time backwards."""
        clock = FakeClock(start=100.0)
        with pytest.raises(ValueError, match="back"):
            clock.advance(-1)
        with pytest.raises(ValueError, match="back"):
            clock.set(99.0)
        clock.set(150.0)
        assert clock.now() == 150.0
        assert clock.monotonic() == pytest.approx(150.0 - 100.0 + 1000.0)


class TestSystemClock:
    def test_reads_real_time(self) -> None:
        """The system clock follows time.time and satisfies the Clock protocol."""
        clock = SystemClock()
        assert isinstance(clock, Clock)
        assert abs(clock.now() - time.time()) < 60
        assert clock.monotonic() <= time.monotonic()
