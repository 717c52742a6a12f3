"""The retry gate's protocol, purely in memory, through a real kernel on a fake clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from actorgrid import Decision, InvalidTarget, RetryPolicyConfig, RetryRecord
from actorgrid.actors.retry import (
    CanRetry,
    CanRetryBatch,
    FailureOutcome,
    FlushGate,
    GateStats,
    GetRecord,
    RecordFailure,
    RecordFailureBatch,
    RecordSuccess,
    ResetTarget,
    RetryGate,
    RetryGateStatistics,
    RetryPolicy,
    record_to_row,
)
from actorgrid.kernel import ActorRef, FakeClock, Kernel, KernelConfig, Message

from ..common import KEY, MIN, T0

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


@pytest.fixture(name="kernel")
async def _kernel(clock: FakeClock) -> AsyncIterator[Kernel]:
    async with Kernel(KernelConfig(strict_messages=True), clock=clock) as kernel:
        yield kernel


@pytest.fixture(name="gate")
async def _gate(kernel: Kernel) -> ActorRef[Any]:
    ref: ActorRef[Any] = await kernel.spawn(
        lambda: RetryGate(RetryPolicyConfig(), engine=None, writer=None), name="retry-gate"
    )
    return ref


def at(clock: FakeClock, minutes: float) -> None:
    """Move the fake clock to ``minutes`` after T0."""
    clock.set(T0 + minutes * MIN)


async def stats(gate: ActorRef[Any]) -> RetryGateStatistics:
    result: RetryGateStatistics = await gate.ask(GateStats())
    return result


async def fail(gate: ActorRef[Any], key: tuple[str, str] = KEY) -> FailureOutcome:
    outcome: FailureOutcome = await gate.ask(RecordFailure(*key))
    return outcome


async def record(gate: ActorRef[Any], key: tuple[str, str] = KEY) -> RetryRecord | None:
    result: RetryRecord | None = await gate.ask(GetRecord(*key))
    return result


class TestCanRetry:
    """CanRetry answers the phase table from memory."""

    async def test_unknown_key_is_a_first_attempt(self, gate: ActorRef[Any]) -> None:
        """A key the gate has never seen is allowed as the first attempt; nothing is stored."""
        decision = await gate.ask(CanRetry(*KEY))
        assert decision == Decision(True, "first", "first_attempt", None, 1, False)
        assert await record(gate) is None
        assert (await stats(gate)).decisions == 1

    async def test_base_window_after_a_failure(self, gate: ActorRef[Any], clock: FakeClock) -> None:
        """After a failure the base retry waits 30 minutes, then it is allowed."""
        await fail(gate)
        at(clock, 29.99)
        denied = await gate.ask(CanRetry(*KEY))
        assert (denied.allowed, denied.phase, denied.reason) == (
            False,
            "base",
            "waiting_base_window",
        )
        assert denied.retry_after == T0 + 30 * MIN
        at(clock, 30)
        allowed = await gate.ask(CanRetry(*KEY))
        assert (allowed.allowed, allowed.reason, allowed.attempt) == (True, "window_open", 2)

    async def test_explicit_early_retry_is_granted_once(
        self, gate: ActorRef[Any], clock: FakeClock
    ) -> None:
        """An explicit request opens at 20 minutes once per cycle and marks the record."""
        await fail(gate)
        at(clock, 19)
        early_denied = await gate.ask(CanRetry(*KEY, explicit=True))
        assert (early_denied.allowed, early_denied.reason) == (False, "waiting_early_window")
        assert early_denied.retry_after == T0 + 20 * MIN
        at(clock, 20)
        granted = await gate.ask(CanRetry(*KEY, explicit=True))
        assert (granted.allowed, granted.early, granted.reason) == (True, True, "early_retry")
        stored = await record(gate)
        assert stored is not None
        assert stored.early_retry_used
        assert stored.last_explicit_early_granted_at == T0 + 20 * MIN
        again = await gate.ask(CanRetry(*KEY, explicit=True))
        assert (again.allowed, again.reason) == (False, "early_retry_used")

    async def test_worked_timeline_of_the_design(
        self, gate: ActorRef[Any], clock: FakeClock
    ) -> None:
        """Fail at 0, early at 20, base at 50, revise at 80/110/140, exhausted after 140."""
        await fail(gate)
        steps = [(20, True, "base", True), (50, False, "base", False)]
        steps += [(m, False, "revise", False) for m in (80, 110, 140)]
        for minutes, explicit, phase, early in steps:
            at(clock, minutes - 0.5)
            assert not (await gate.ask(CanRetry(*KEY, explicit=explicit))).allowed
            at(clock, minutes)
            decision = await gate.ask(CanRetry(*KEY, explicit=explicit))
            assert (decision.allowed, decision.phase, decision.early) == (True, phase, early)
            outcome = await fail(gate)
        assert outcome.decision.phase == "exhausted"
        assert outcome.decision.attempt == 7
        at(clock, 10_000)
        assert (await gate.ask(CanRetry(*KEY))).phase == "exhausted"


class TestCanRetryBatch:
    """CanRetryBatch answers as the same CanRetry asks in that order would, one trip."""

    async def test_the_batch_answers_as_its_asks_in_turn(
        self, kernel: Kernel, gate: ActorRef[Any], clock: FakeClock
    ) -> None:
        """Same decisions, same records, same counters as the asks sent one by one."""
        alone: ActorRef[Any] = await kernel.spawn(
            lambda: RetryGate(RetryPolicyConfig(), engine=None, writer=None), name="alone"
        )
        other = ("entity", "other")
        fresh = ("entity", "fresh")
        for ref in (gate, alone):
            await fail(ref)
            await fail(ref, other)
        at(clock, 30)
        asks = (CanRetry(*KEY), CanRetry(*other, explicit=True), CanRetry(*KEY), CanRetry(*fresh))
        one_by_one = [await alone.ask(ask) for ask in asks]
        batched = await gate.ask(CanRetryBatch(asks))
        assert list(batched) == one_by_one
        assert one_by_one[0].allowed
        assert one_by_one[3].phase == "first"
        for key in (KEY, other, fresh):
            assert await record(gate, key) == await record(alone, key)
        assert (await stats(gate)).decisions == (await stats(alone)).decisions == 4

    async def test_a_bad_key_answers_with_its_error_and_the_rest_still_decided(
        self, gate: ActorRef[Any]
    ) -> None:
        """The failing request's place holds its exception; the others are decided."""
        batched = await gate.ask(CanRetryBatch((CanRetry("", "x"), CanRetry(*KEY))))
        assert isinstance(batched[0], InvalidTarget)
        assert batched[1] == Decision(True, "first", "first_attempt", None, 1, False)


class TestRecordFailureBatch:
    """RecordFailureBatch answers as the same RecordFailure asks in that order would."""

    async def test_the_batch_answers_as_its_requests_in_turn(
        self, kernel: Kernel, gate: ActorRef[Any], clock: FakeClock
    ) -> None:
        """Same outcomes, same records as the requests sent one by one (the same key twice
        included: the second sees the first's record)."""
        alone: ActorRef[Any] = await kernel.spawn(
            lambda: RetryGate(RetryPolicyConfig(), engine=None, writer=None), name="alone"
        )
        other = ("entity", "other")
        requests = (
            RecordFailure(*KEY),
            RecordFailure(*other, explicit=True),
            RecordFailure(*KEY),
        )
        one_by_one = [await alone.ask(request) for request in requests]
        batched = await gate.ask(RecordFailureBatch(requests))
        assert list(batched) == one_by_one
        assert [o.row["attempt_count"] for o in batched] == [1, 1, 2]
        for key in (KEY, other):
            assert await record(gate, key) == await record(alone, key)
        assert (await stats(gate)).failures == (await stats(alone)).failures == 3

    async def test_a_bad_key_answers_with_its_error_and_the_rest_still_recorded(
        self, gate: ActorRef[Any]
    ) -> None:
        batched = await gate.ask(RecordFailureBatch((RecordFailure("", "x"), RecordFailure(*KEY))))
        assert isinstance(batched[0], InvalidTarget)
        assert isinstance(batched[1], FailureOutcome)
        stored = await record(gate)
        assert stored is not None
        assert stored.attempt_count == 1


class TestRecordFailure:
    """RecordFailure replies with the next decision and the row to upsert."""

    async def test_outcome_carries_the_next_window_and_the_row(
        self, gate: ActorRef[Any], clock: FakeClock
    ) -> None:
        """The decision is denied until the next window; the row matches the record."""
        outcome = await fail(gate)
        assert isinstance(outcome, FailureOutcome)
        assert not outcome.decision.allowed
        assert outcome.decision.retry_after == T0 + 30 * MIN
        stored = await record(gate)
        assert stored is not None
        assert stored.attempt_count == 1
        assert outcome.row == record_to_row(stored, clock.now())
        assert outcome.row["version"] == stored.version == 1

    async def test_exhausted_after_max_retries(self, kernel: Kernel) -> None:
        """With max_retries=1, the second failure answers phase exhausted."""
        config = RetryPolicyConfig(max_retries=1, base_retries=1)
        gate = await kernel.spawn(lambda: RetryGate(config, engine=None, writer=None), name="g")
        assert (await fail(gate)).decision.phase == "base"
        assert (await fail(gate)).decision.phase == "exhausted"

    async def test_policy_override_is_snapshotted_by_a_new_cycle(
        self, gate: ActorRef[Any], clock: FakeClock
    ) -> None:
        """A policy sent with the first failure is the cycle's; later ones do not change it."""
        quick = RetryPolicyConfig(base_wait_minutes=5, early_wait_minutes=1)
        outcome: FailureOutcome = await gate.ask(RecordFailure(*KEY, policy=quick))
        assert outcome.decision.retry_after == T0 + 5 * MIN
        assert outcome.row["policy_snapshot"]["base_wait_minutes"] == 5
        at(clock, 5)
        slow = RetryPolicyConfig(base_wait_minutes=60, early_wait_minutes=1)
        second: FailureOutcome = await gate.ask(RecordFailure(*KEY, policy=slow))
        assert second.decision.retry_after == T0 + 10 * MIN
        other = await fail(gate, ("entity", "other"))
        assert other.decision.retry_after == T0 + 5 * MIN + 30 * MIN

    async def test_equal_policy_overrides_share_one_snapshot(self, gate: ActorRef[Any]) -> None:
        """Records whose cycles began with equal overrides keep one shared config object."""
        keys = [("entity", f"e{i}") for i in range(3)]
        for key in keys:
            await gate.ask(RecordFailure(*key, policy=RetryPolicyConfig(max_retries=9)))
        snapshots = [(await record(gate, key)).policy for key in keys]  # type: ignore[union-attr]
        assert snapshots[0] == RetryPolicyConfig(max_retries=9)
        assert snapshots[0] is snapshots[1] is snapshots[2]


class TestRecordSuccess:
    """RecordSuccess ends the cycle; a target that never failed leaves nothing behind."""

    async def test_success_without_a_record_stores_nothing(self, gate: ActorRef[Any]) -> None:
        """The reply is None and the gate still has no record."""
        assert await gate.ask(RecordSuccess(*KEY)) is None
        assert await record(gate) is None
        assert (await stats(gate)).cached == 0

    async def test_success_ends_the_cycle(self, gate: ActorRef[Any], clock: FakeClock) -> None:
        """The row shows count 0 and the success time; the next attempt is a first one."""
        await fail(gate)
        at(clock, 3)
        row = await gate.ask(RecordSuccess(*KEY))
        assert row is not None
        assert (row["attempt_count"], row["last_success_at"]) == (0, T0 + 3 * MIN)
        assert (row["policy_snapshot"], row["version"]) == (None, 2)
        assert (await gate.ask(CanRetry(*KEY))).phase == "first"


class TestResetTarget:
    """ResetTarget clears the record and bumps its version."""

    async def test_reset_clears_the_cycle(self, gate: ActorRef[Any]) -> None:
        """After a reset the target is at its first attempt again; the version grows."""
        for _ in range(3):
            await fail(gate)
        assert await gate.ask(ResetTarget(*KEY)) is None
        stored = await record(gate)
        assert stored is not None
        assert stored == RetryRecord(*KEY, version=4)
        assert (await gate.ask(CanRetry(*KEY))).phase == "first"
        assert (await fail(gate)).row["version"] == 5

    async def test_reset_of_an_unknown_key_creates_nothing(self, gate: ActorRef[Any]) -> None:
        """Resetting a key without a record leaves it without one."""
        await gate.ask(ResetTarget(*KEY))
        assert await record(gate) is None
        assert (await stats(gate)).resets == 0


class TestGetRecordAndStats:
    """GetRecord returns a copy; GateStats counts what happened."""

    async def test_get_record_returns_a_copy(self, gate: ActorRef[Any]) -> None:
        """Changing the returned record does not change the gate's."""
        await fail(gate)
        copy = await record(gate)
        assert copy is not None
        copy.attempt_count = 99
        again = await record(gate)
        assert again is not None
        assert again.attempt_count == 1

    async def test_statistics_count_each_request(self, gate: ActorRef[Any]) -> None:
        """Decisions, failures, successes and resets are counted; memory mode never loads."""
        await gate.ask(CanRetry(*KEY))
        await fail(gate)
        await fail(gate, ("entity", "b"))
        await gate.ask(RecordSuccess(*KEY))
        await gate.ask(ResetTarget("entity", "b"))
        assert await gate.ask(FlushGate()) is None
        assert await stats(gate) == RetryGateStatistics(
            cached=2,
            absent=0,
            dirty=0,
            in_flight=0,
            loads=0,
            flushes=0,
            rows_flushed=0,
            decisions=1,
            failures=2,
            successes=1,
            resets=1,
            evictions=0,
            write_errors=0,
        )


BAD_KEYS = [
    ("", "x"),
    ("entity", ""),
    ("e" * 256, "x"),
    ("entity", "x" * 256),
]


def requests(key: tuple[str, str]) -> list[Message]:
    return [
        CanRetry(*key),
        CanRetry(*key, explicit=True),
        RecordFailure(*key),
        RecordSuccess(*key),
        ResetTarget(*key),
        GetRecord(*key),
    ]


class TestInvalidTargets:
    """A bad key raises InvalidTarget back to the asker and changes nothing."""

    @pytest.mark.parametrize("key", BAD_KEYS)
    async def test_every_request_rejects_a_bad_key(
        self, gate: ActorRef[Any], key: tuple[str, str]
    ) -> None:
        """Each request with the key raises; the gate's counters stay at zero; it still works."""
        await fail(gate)
        before = await stats(gate)
        for message in requests(key):
            with pytest.raises(InvalidTarget):
                await gate.ask(message)
        assert await stats(gate) == before
        assert (await fail(gate)).row["attempt_count"] == 2

    async def test_a_non_string_key_is_rejected(self) -> None:
        """Without strict messages a non-string reaches the gate and is rejected there."""
        async with Kernel() as loose:
            gate = await loose.spawn(
                lambda: RetryGate(RetryPolicyConfig(), engine=None, writer=None), name="g"
            )
            with pytest.raises(InvalidTarget, match="target_id"):
                await gate.ask(RecordFailure("entity", 123))  # type: ignore[arg-type]
            assert (await stats(gate)).cached == 0


class TestConstruction:
    """Bad constructor arguments fail at once, with the field named."""

    def test_engine_without_writer_is_refused(self) -> None:
        """Engine and writer come together or not at all."""
        with pytest.raises(ValueError, match="both engine and writer"):
            RetryGate(RetryPolicyConfig(), engine=object(), writer=None)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("option", "value"),
        [("flush_interval", 0), ("flush_interval", float("inf")), ("flush_rows", 0),
         ("flush_rows", 1.5), ("max_cached", True), ("max_cached", -1)],
    )  # fmt: skip
    def test_out_of_range_numbers_are_refused(self, option: str, value: object) -> None:
        """Intervals must be finite and positive, counts positive ints."""
        with pytest.raises(ValueError, match=option):
            RetryGate(RetryPolicyConfig(), engine=None, writer=None, **{option: value})  # type: ignore[arg-type]

    def test_policy_must_be_a_policy(self) -> None:
        """A dict is not a policy."""
        with pytest.raises(TypeError, match="RetryPolicy"):
            RetryGate({"max_retries": 3}, engine=None, writer=None)  # type: ignore[arg-type]

    async def test_a_shared_policy_object_keeps_its_budget(self, kernel: Kernel) -> None:
        """A RetryPolicy instance is used as is. The decision after a failure is a forecast
        that takes no budget slot; the retry's own CanRetry takes it."""
        policy = RetryPolicy(RetryPolicyConfig(base_wait_minutes=0, early_wait_minutes=0,
                                               budget_retries=1))  # fmt: skip
        gate = await kernel.spawn(lambda: RetryGate(policy, engine=None, writer=None), name="g")
        first = await fail(gate)
        second = await fail(gate, ("entity", "b"))
        assert (first.decision.reason, second.decision.reason) == ("window_open", "window_open")
        assert policy.budget_in_use(T0) == 0
        retry_a = await gate.ask(CanRetry(*KEY))
        retry_b = await gate.ask(CanRetry("entity", "b"))
        assert (retry_a.reason, retry_b.reason) == ("window_open", "budget")
        assert policy.budget_in_use(T0) == 1


class TestEvictionInMemory:
    """Beyond max_cached, records of ended cycles go, least recently used first."""

    async def test_only_ended_cycles_are_evicted_lru_first(self, kernel: Kernel) -> None:
        """Running cycles stay; among ended ones the least recently used goes first."""
        gate = await kernel.spawn(
            lambda: RetryGate(RetryPolicyConfig(), engine=None, writer=None, max_cached=3),
            name="g",
        )
        keys = [("entity", f"e{i}") for i in range(3)]
        for key in keys:
            await fail(gate, key)
            await gate.ask(RecordSuccess(*key))
        await gate.ask(GetRecord(*keys[0]))  # e0 is now the most recently used
        await fail(gate, ("entity", "new"))
        assert [await record(gate, k) is None for k in keys] == [False, True, False]
        active = [("entity", f"a{i}") for i in range(5)]
        for key in active:
            await fail(gate, key)
        assert all([await record(gate, k) is not None for k in active])
        assert (await stats(gate)).evictions >= 3


class TestExhaustedEviction:
    """Records of dead-lettered targets are evicted too, so the cache stays bounded."""

    async def test_exhausted_records_do_not_grow_the_cache(self, kernel: Kernel) -> None:
        config = RetryPolicyConfig(base_retries=0, max_retries=0)
        gate = await kernel.spawn(
            lambda: RetryGate(config, engine=None, writer=None, max_cached=10), name="g"
        )
        for i in range(200):
            outcome = await fail(gate, ("entity", f"e{i}"))
            assert outcome.decision.phase == "exhausted"
        snapshot = await stats(gate)
        assert snapshot.cached <= 10
        assert snapshot.evictions >= 190
