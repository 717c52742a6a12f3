"""RetryPolicyManager over the in-memory store: the phase table on a fake clock."""

from __future__ import annotations

import gc
import tracemalloc
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from actorgrid import (
    Decision,
    InMemoryRetryStore,
    InvalidTarget,
    RetryPolicyConfig,
    RetryPolicyManager,
    RetryRecord,
)

from ..common import KEY, MIN, T0

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from actorgrid.kernel import FakeClock


@pytest.fixture(name="manager")
def _manager(clock: FakeClock) -> RetryPolicyManager:
    return RetryPolicyManager(clock=clock)


def at(clock: FakeClock, minutes: float) -> None:
    """Move the fake clock to ``minutes`` after T0."""
    clock.set(T0 + minutes * MIN)


async def fail(manager: RetryPolicyManager, key: tuple[str, str] = KEY) -> RetryRecord:
    return await manager.record_attempt(*key, success=False)


class TestPhases:
    """Each row of the phase table."""

    async def test_first_attempt_is_allowed(self, manager: RetryPolicyManager) -> None:
        """With no record, the attempt is the first one and is allowed."""
        decision = await manager.can_retry(*KEY)
        assert decision == Decision(True, "first", "first_attempt", None, 1, False)
        assert await manager.get(*KEY) is None

    async def test_base_phase_waits_thirty_minutes(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """After one failure the base retry opens exactly 30 minutes later."""
        await fail(manager)
        at(clock, 29.999)
        assert await manager.can_retry(*KEY) == Decision(
            False, "base", "waiting_base_window", T0 + 30 * MIN, 2
        )
        at(clock, 30)
        assert await manager.can_retry(*KEY) == Decision(True, "base", "window_open", None, 2)

    async def test_revise_phase_after_base_retries(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """The third and later failures put the target in the revise phase, same window."""
        for step in range(3):
            at(clock, 30 * step)
            await fail(manager)
        at(clock, 60 + 29)
        denied = await manager.can_retry(*KEY)
        assert (denied.allowed, denied.phase, denied.retry_after) == (
            False,
            "revise",
            T0 + 90 * MIN,
        )
        at(clock, 90)
        assert await manager.can_retry(*KEY) == Decision(True, "revise", "window_open", None, 4)

    async def test_exhausted_after_max_retries(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """Six failures exceed max_retries=5: denied for good, with no retry_after."""
        for step in range(6):
            at(clock, 30 * step)
            await fail(manager)
        at(clock, 10_000)
        expected = Decision(False, "exhausted", "exhausted", None, 7)
        assert await manager.can_retry(*KEY) == expected
        assert await manager.can_retry(*KEY, explicit=True) == expected

    async def test_success_ends_the_cycle(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """A success resets count, early flag, window and snapshot, and records the time."""
        await fail(manager)
        at(clock, 20)
        assert (await manager.can_retry(*KEY, explicit=True)).early
        record = await manager.record_attempt(*KEY, success=True)
        assert record.attempt_count == 0
        assert not record.early_retry_used
        assert record.last_success_at == T0 + 20 * MIN
        assert record.next_allowed_at is None
        assert record.policy is None
        assert record.last_attempt_at == T0
        assert (await manager.can_retry(*KEY)).phase == "first"

    async def test_success_without_record_stores_nothing(self, manager: RetryPolicyManager) -> None:
        """A success for an unknown target returns a record but keeps nothing in memory."""
        record = await manager.record_attempt(*KEY, success=True)
        assert record.last_success_at == T0
        assert await manager.get(*KEY) is None

    async def test_reset_clears_the_record(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """After reset the next attempt is a first attempt again."""
        for step in range(6):
            at(clock, 30 * step)
            await fail(manager)
        await manager.reset(*KEY)
        assert await manager.get(*KEY) is None
        assert (await manager.can_retry(*KEY)).allowed
        await manager.reset(*KEY)

    async def test_targets_are_independent(self, manager: RetryPolicyManager) -> None:
        """A failure of one target does not affect another with the same type or id."""
        await fail(manager)
        for other in (("entity", "entity-124"), ("event", "entity-123")):
            assert (await manager.can_retry(*other)).phase == "first"


class TestWorkedTimeline:
    """DESIGN.md's worked timeline with the default policy, step by step."""

    async def test_six_attempts_then_dead_letter(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """0 fail, early at 20m, base at 50m, revise at 80/110/140m, then exhausted."""
        attempts = 0
        assert (await manager.can_retry(*KEY)).phase == "first"
        attempts += 1
        record = await fail(manager)
        assert (record.attempt_count, record.next_allowed_at) == (1, T0 + 30 * MIN)

        at(clock, 19)
        assert await manager.can_retry(*KEY, explicit=True) == Decision(
            False, "base", "waiting_early_window", T0 + 20 * MIN, 2
        )
        assert (record.early_retry_used, record.version) == (False, 1)
        at(clock, 20)
        assert await manager.can_retry(*KEY, explicit=True) == Decision(
            True, "base", "early_retry", None, 2, True
        )
        assert record.early_retry_used
        assert record.last_explicit_early_granted_at == T0 + 20 * MIN
        attempts += 1
        record = await fail(manager)
        assert (record.attempt_count, record.next_allowed_at) == (2, T0 + 50 * MIN)

        assert await manager.can_retry(*KEY, explicit=True) == Decision(
            False, "base", "early_retry_used", T0 + 50 * MIN, 3
        )
        at(clock, 49)
        assert await manager.can_retry(*KEY) == Decision(
            False, "base", "waiting_base_window", T0 + 50 * MIN, 3
        )
        at(clock, 50)
        assert await manager.can_retry(*KEY) == Decision(True, "base", "window_open", None, 3)
        attempts += 1
        record = await fail(manager)
        assert record.attempt_count == 3

        for opens, attempt in ((80, 4), (110, 5), (140, 6)):
            at(clock, opens - 1)
            assert await manager.can_retry(*KEY) == Decision(
                False, "revise", "waiting_base_window", T0 + opens * MIN, attempt
            )
            at(clock, opens)
            assert await manager.can_retry(*KEY) == Decision(
                True, "revise", "window_open", None, attempt
            )
            attempts += 1
            record = await fail(manager)
            assert record.attempt_count == attempt

        at(clock, 170)
        assert await manager.can_retry(*KEY) == Decision(False, "exhausted", "exhausted", None, 7)
        assert attempts == 6


class TestExplicitEarlyRetry:
    """The one explicit early retry per cycle."""

    async def test_explicit_first_attempt_is_not_early(self, manager: RetryPolicyManager) -> None:
        """An explicit request with no failure yet is an ordinary first attempt."""
        assert await manager.can_retry(*KEY, explicit=True) == Decision(
            True, "first", "first_attempt", None, 1, False
        )
        assert await manager.get(*KEY) is None

    async def test_denied_explicit_changes_nothing(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """An explicit request before the early window leaves the record untouched."""
        record = await fail(manager)
        version = record.version
        at(clock, 20 - 1 / 60_000)
        decision = await manager.can_retry(*KEY, explicit=True)
        assert (decision.allowed, decision.retry_after) == (False, T0 + 20 * MIN)
        assert (record.version, record.early_retry_used) == (version, False)

    async def test_once_per_cycle_then_normal_rule(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """The second explicit request in a cycle follows the 30-minute window."""
        await fail(manager)
        at(clock, 20)
        assert (await manager.can_retry(*KEY, explicit=True)).early
        assert (await manager.can_retry(*KEY, explicit=True)).reason == "early_retry_used"
        await fail(manager)
        at(clock, 40)
        assert (await manager.can_retry(*KEY, explicit=True)).reason == "early_retry_used"
        at(clock, 50)
        assert await manager.can_retry(*KEY, explicit=True) == Decision(
            True, "base", "window_open", None, 3, False
        )

    async def test_early_retry_in_revise_phase(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """An unused early retry can shorten a revise-phase wait."""
        for step in range(3):
            at(clock, 30 * step)
            await fail(manager)
        at(clock, 80)
        assert await manager.can_retry(*KEY, explicit=True) == Decision(
            True, "revise", "early_retry", None, 4, True
        )

    async def test_explicit_while_window_open_uses_the_early_retry(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """An explicit request after the base window opened is still the early grant."""
        record = await fail(manager)
        at(clock, 35)
        assert (await manager.can_retry(*KEY, explicit=True)).early
        assert record.early_retry_used

    async def test_new_cycle_gets_a_new_early_retry(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """After a success, the next cycle may use its own early retry."""
        await fail(manager)
        at(clock, 20)
        assert (await manager.can_retry(*KEY, explicit=True)).early
        await manager.record_attempt(*KEY, success=True)
        at(clock, 21)
        await fail(manager)
        at(clock, 41)
        assert (await manager.can_retry(*KEY, explicit=True)).early


class TestPolicySnapshot:
    """A running cycle keeps the policy it began with."""

    async def test_config_change_mid_cycle_keeps_windows(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """Changing the config mid-cycle changes neither the windows nor the limits."""
        original = manager.config
        record = await fail(manager)
        assert record.policy is original
        manager.config = RetryPolicyConfig(
            base_wait_minutes=60, early_wait_minutes=45, base_retries=0, max_retries=1
        )
        at(clock, 20)
        assert (await manager.can_retry(*KEY, explicit=True)).early
        record = await fail(manager)
        assert record.policy is original
        at(clock, 50)
        assert await manager.can_retry(*KEY) == Decision(True, "base", "window_open", None, 3)
        other = await fail(manager, ("entity", "other"))
        assert other.policy is manager.config

    async def test_new_cycle_uses_new_config(
        self, manager: RetryPolicyManager, clock: FakeClock
    ) -> None:
        """After a success the next failure snapshots the config in force then."""
        await fail(manager)
        new = RetryPolicyConfig(base_wait_minutes=60, early_wait_minutes=45)
        manager.config = new
        await manager.record_attempt(*KEY, success=True)
        record = await fail(manager)
        assert record.policy is new
        assert record.next_allowed_at == T0 + 60 * MIN
        at(clock, 30)
        assert not (await manager.can_retry(*KEY)).allowed

    async def test_snapshot_is_shared_not_copied(self, manager: RetryPolicyManager) -> None:
        """Records that began under the same config share one config object."""
        first = await fail(manager, ("entity", "a"))
        second = await fail(manager, ("entity", "b"))
        assert first.policy is second.policy is manager.config


class TestInvalidTargets:
    """Bad keys raise InvalidTarget and change nothing."""

    BAD: tuple[tuple[object, object], ...] = (
        ("", "id"),
        ("entity", ""),
        ("x" * 256, "id"),
        ("entity", "x" * 256),
        (None, "id"),
        ("entity", 123),
        (b"entity", "id"),
    )

    @pytest.mark.parametrize(("target_type", "target_id"), BAD)
    async def test_every_entry_point_rejects(
        self, manager: RetryPolicyManager, target_type: object, target_id: object
    ) -> None:
        """can_retry, record_attempt, reset and get all raise and store nothing."""
        record = await fail(manager)
        before = msgspec.structs.asdict(record)
        bad_type: Any = target_type
        bad_id: Any = target_id
        calls: tuple[Callable[[], Awaitable[object]], ...] = (
            lambda: manager.can_retry(bad_type, bad_id, explicit=True),
            lambda: manager.record_attempt(bad_type, bad_id, False),
            lambda: manager.reset(bad_type, bad_id),
            lambda: manager.get(bad_type, bad_id),
        )
        for call in calls:
            with pytest.raises(InvalidTarget):
                await call()
        store = manager.store
        assert isinstance(store, InMemoryRetryStore)
        assert list(store.records()) == [record]
        assert msgspec.structs.asdict(record) == before

    async def test_error_names_the_field(self, manager: RetryPolicyManager) -> None:
        """The error says which part of the key is wrong and why."""
        with pytest.raises(InvalidTarget, match=r"target_id.*at most 255") as info:
            await manager.can_retry("entity", "y" * 300)
        assert info.value.field == "target_id"

    async def test_longest_valid_key(self, manager: RetryPolicyManager) -> None:
        """A key of exactly 255 characters is accepted, as are str subclasses."""

        class Kind(str):
            pass

        await fail(manager, ("t" * 255, "i" * 255))
        assert await manager.get("t" * 255, "i" * 255) is not None
        assert (await manager.can_retry(Kind("entity"), "entity-123")).phase == "first"


class TestFootprint:
    """Memory per in-memory record."""

    async def test_record_under_400_bytes(self, clock: FakeClock) -> None:
        """A failing target costs under 400 bytes, key strings and store entry included."""
        manager = RetryPolicyManager(clock=clock)
        count = 5_000
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for i in range(count):
                await manager.record_attempt(f"entity-type-{i % 7}", f"entity-{i:09d}", False)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        used = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
        assert len(manager.store) == count  # type: ignore[arg-type]
        assert used / count < 400


class TestSeedUsage:
    """The seed's usage example, adapted to async and actorgrid imports."""

    async def test_usage_example(self, clock: FakeClock) -> None:
        """Check, try, record: a failing target is retried until it succeeds."""
        config = RetryPolicyConfig(base_wait_minutes=30, base_retries=2, early_wait_minutes=20)
        manager = RetryPolicyManager(config=config, clock=clock)
        outcomes = iter([False, False, True])
        tries = 0
        while True:
            decision = await manager.can_retry("entity", "entity-123")
            if not decision.allowed:
                assert decision.retry_after is not None
                clock.set(decision.retry_after)
                continue
            tries += 1
            record = await manager.record_attempt("entity", "entity-123", next(outcomes))
            if record.attempt_count == 0:
                break
        assert tries == 3
        assert clock.now() == T0 + 60 * MIN
