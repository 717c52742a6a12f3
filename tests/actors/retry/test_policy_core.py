"""RetryPolicy, the synchronous core: backoff, jitter, budget and record bookkeeping."""

from __future__ import annotations

import random

from actorgrid import Decision, RetryPolicyConfig, RetryRecord
from actorgrid.actors.retry import RetryPolicy

MIN = 60.0


def failing(policy: RetryPolicy, failures: int, now: float = 0.0) -> RetryRecord:
    """Return a record with ``failures`` failures recorded at ``now``."""
    record = RetryRecord("entity", "e")
    for _ in range(failures):
        policy.record_attempt(record, now, success=False)
    return record


class TestBookkeeping:
    """record_attempt and decide on records directly."""

    def test_failure_starts_cycle_and_bumps_version(self) -> None:
        """The first failure snapshots the config; every change bumps the version."""
        policy = RetryPolicy()
        record = RetryRecord("entity", "e")
        policy.record_attempt(record, 100.0, success=False)
        assert record.policy is policy.config
        assert (record.attempt_count, record.last_attempt_at) == (1, 100.0)
        assert record.next_allowed_at == 100.0 + 30 * MIN
        assert record.version == 1
        policy.record_attempt(record, 200.0, success=True)
        assert record.version == 2

    def test_denied_and_plain_decisions_do_not_change_the_record(self) -> None:
        """Only a granted early retry changes the record."""
        policy = RetryPolicy()
        record = failing(policy, 1)
        for now, explicit in ((0.0, False), (0.0, True), (30 * MIN, False)):
            policy.decide(record, now, explicit)
        assert (record.version, record.early_retry_used) == (1, False)
        assert policy.decide(record, 20 * MIN, explicit=True).early
        assert record.version == 2

    def test_decide_without_record(self) -> None:
        """None and a record with no failures are both first attempts."""
        policy = RetryPolicy()
        assert policy.decide(None, 0.0).phase == "first"
        assert policy.decide(RetryRecord("a", "b"), 0.0, explicit=True).phase == "first"

    def test_legacy_record_without_window_uses_last_attempt(self) -> None:
        """A stored record without next_allowed_at or snapshot uses the current config."""
        policy = RetryPolicy(RetryPolicyConfig(base_wait_minutes=10, early_wait_minutes=5))
        record = RetryRecord("entity", "e", attempt_count=1, last_attempt_at=0.0)
        assert policy.decide(record, 9 * MIN).retry_after == 10 * MIN
        assert policy.decide(record, 10 * MIN).allowed
        policy.record_attempt(record, 10 * MIN, success=False)
        assert record.policy is policy.config

    def test_decide_uses_snapshot_not_current_config(self) -> None:
        """Replacing the policy's config leaves a running cycle's limits alone."""
        policy = RetryPolicy()
        record = failing(policy, 3)
        policy.config = RetryPolicyConfig(max_retries=2)
        assert policy.decide(record, 30 * MIN) == Decision(True, "revise", "window_open", None, 4)

    def test_zero_retries_policy(self) -> None:
        """With max_retries=0 the first failure exhausts the target."""
        policy = RetryPolicy(RetryPolicyConfig(base_retries=0, max_retries=0))
        record = failing(policy, 1)
        assert policy.decide(record, 1e9).phase == "exhausted"

    def test_base_retries_zero_goes_straight_to_revise(self) -> None:
        """With base_retries=0 every retry is in the revise phase."""
        policy = RetryPolicy(RetryPolicyConfig(base_retries=0))
        assert policy.decide(failing(policy, 1), 30 * MIN).phase == "revise"


class TestBackoff:
    """Fixed and exponential waits, with and without jitter."""

    def test_fixed_wait_is_constant(self) -> None:
        """A fixed backoff waits base_wait after every failure."""
        policy = RetryPolicy()
        assert [policy.next_wait(n) for n in range(1, 7)] == [30 * MIN] * 6

    def test_exponential_grows_and_caps(self) -> None:
        """base * factor**(n-1), capped at max_wait, without overflow for huge n."""
        config = RetryPolicyConfig(backoff="exponential", backoff_factor=3, max_wait_minutes=500)
        policy = RetryPolicy(config)
        assert [policy.next_wait(n) / MIN for n in range(1, 5)] == [30, 90, 270, 500]
        assert policy.next_wait(100_000) == 500 * MIN

    def test_exponential_windows_on_records(self) -> None:
        """Each failure's window follows the exponential schedule of the snapshot."""
        policy = RetryPolicy(RetryPolicyConfig(backoff="exponential"))
        record = RetryRecord("entity", "e")
        now = 0.0
        for expected in (30, 60, 120, 240):
            policy.record_attempt(record, now, success=False)
            assert record.next_allowed_at == now + expected * MIN
            assert not policy.decide(record, record.next_allowed_at - 1).allowed
            now = record.next_allowed_at
            assert policy.decide(record, now).allowed

    def test_full_jitter_bounds_and_seed(self) -> None:
        """Full jitter draws in [0, wait]; the same seed gives the same draws."""
        config = RetryPolicyConfig(backoff="exponential", jitter="full")
        a = RetryPolicy(config, random.Random(7))
        b = RetryPolicy(config, random.Random(7))
        for n in range(1, 8):
            waits = [a.next_wait(n) for _ in range(200)]
            full = min(30 * MIN * 2 ** (n - 1), 24 * 60 * MIN)
            assert all(0 <= w <= full for w in waits)
            assert min(waits) < full / 4
            assert max(waits) > full * 3 / 4
            assert waits == [b.next_wait(n) for _ in range(200)]

    def test_equal_jitter_bounds(self) -> None:
        """Equal jitter draws in [wait/2, wait]."""
        policy = RetryPolicy(RetryPolicyConfig(jitter="equal"), random.Random(3))
        waits = [policy.next_wait(1) for _ in range(500)]
        assert all(15 * MIN <= w <= 30 * MIN for w in waits)
        assert len(set(waits)) > 400

    def test_jitter_drawn_once_per_failure(self) -> None:
        """The jittered window is fixed when the failure is recorded, not per decision."""
        policy = RetryPolicy(RetryPolicyConfig(jitter="full"), random.Random(11))
        record = failing(policy, 1)
        opens = record.next_allowed_at
        assert opens is not None
        for _ in range(10):
            decision = policy.decide(record, -1.0)
            assert decision.retry_after == opens
        assert record.next_allowed_at == opens

    def test_explicit_never_worse_than_plain_with_jitter(self) -> None:
        """When jitter opens the window before the early window, explicit follows it."""
        rng = random.Random(5)
        policy = RetryPolicy(RetryPolicyConfig(jitter="full"), rng)
        record = RetryRecord("entity", "e")
        while True:
            policy.record_attempt(record, 0.0, success=False)
            opens = record.next_allowed_at
            assert opens is not None
            if opens < 20 * MIN:
                break
            policy.record_attempt(record, 0.0, success=True)
        before_open = opens / 2
        denied = policy.decide(record, before_open, explicit=True)
        assert (denied.reason, denied.retry_after) == ("waiting_early_window", opens)
        granted = policy.decide(record, opens, explicit=True)
        assert (granted.allowed, granted.early, granted.reason) == (True, False, "window_open")
        assert not record.early_retry_used


class TestBudget:
    """The global retry budget defers, never exhausts."""

    def test_budget_defers_beyond_limit(self) -> None:
        """At most N retries per window; the next waits for the oldest slot to expire."""
        policy = RetryPolicy(RetryPolicyConfig(budget_retries=2, budget_window_minutes=60))
        records = [failing(policy, 1) for _ in range(3)]
        assert policy.decide(records[0], 30 * MIN).allowed
        assert policy.decide(records[1], 31 * MIN).allowed
        assert policy.decide(records[2], 32 * MIN) == Decision(False, "base", "budget", 90 * MIN, 2)
        assert policy.budget_in_use(32 * MIN) == 2
        assert not policy.decide(records[2], 90 * MIN - 0.001).allowed
        assert policy.decide(records[2], 90 * MIN).allowed

    def test_first_attempts_and_denials_take_no_slot(self) -> None:
        """Only granted retries (attempt >= 2) count against the budget."""
        policy = RetryPolicy(RetryPolicyConfig(budget_retries=1))
        for _ in range(5):
            assert policy.decide(None, 0.0).allowed
        record = failing(policy, 1)
        assert not policy.decide(record, 1.0).allowed
        assert policy.budget_in_use(1.0) == 0
        assert policy.decide(record, 30 * MIN).allowed
        assert policy.budget_in_use(30 * MIN) == 1

    def test_budget_denied_early_retry_keeps_flag(self) -> None:
        """A budget-deferred explicit request does not use up the early retry."""
        policy = RetryPolicy(RetryPolicyConfig(budget_retries=1))
        assert policy.decide(failing(policy, 1), 30 * MIN).allowed
        record = failing(policy, 1)
        decision = policy.decide(record, 30 * MIN, explicit=True)
        assert (decision.allowed, decision.reason) == (False, "budget")
        assert (record.early_retry_used, record.version) == (False, 1)

    def test_budget_never_exhausts(self) -> None:
        """A target deferred many times by the budget is still retried later."""
        policy = RetryPolicy(RetryPolicyConfig(budget_retries=1, budget_window_minutes=10))
        hog = failing(policy, 1)
        waiting = failing(policy, 1)
        now = 30 * MIN
        assert policy.decide(hog, now).allowed
        for _ in range(20):
            decision = policy.decide(waiting, now)
            assert decision.reason == "budget"
            assert decision.phase != "exhausted"
        retry_after = policy.decide(waiting, now).retry_after
        assert retry_after == 40 * MIN
        assert policy.decide(waiting, 40 * MIN).allowed
