"""The manager against a tiny independent model of the phase table, over random histories."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from actorgrid import InvalidTarget, RetryPolicyConfig, RetryPolicyManager
from actorgrid.kernel import FakeClock

if TYPE_CHECKING:
    from collections.abc import Coroutine

T = TypeVar("T")
MIN = 60.0
KEYS = (("entity", "a"), ("entity", "b"), ("event", "a"))


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (the in-memory store never awaits)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("the in-memory manager suspended")


@st.composite
def configs(draw: st.DrawFn) -> RetryPolicyConfig:
    base = draw(st.sampled_from([0.0, 10.0, 30.0]))
    early = draw(st.sampled_from([e for e in (0.0, 5.0, 20.0, 30.0) if e <= base]))
    base_retries = draw(st.integers(0, 3))
    return RetryPolicyConfig(
        base_wait_minutes=base,
        early_wait_minutes=early,
        base_retries=base_retries,
        max_retries=draw(st.integers(base_retries, base_retries + 3)),
        budget_retries=draw(st.none() | st.integers(1, 3)),
        budget_window_minutes=draw(st.sampled_from([10.0, 60.0])),
    )


CONFIGS = st.just(RetryPolicyConfig()) | configs()


@dataclass
class ModelRecord:
    config: RetryPolicyConfig | None = None
    failures: int = 0
    last_failure: float | None = None
    early_used: bool = False
    early_at: float | None = None
    success_at: float | None = None


@dataclass
class Model:
    """The phase table of DESIGN.md, fixed backoff, written as plainly as possible."""

    config: RetryPolicyConfig
    records: dict[tuple[str, str], ModelRecord] = field(default_factory=dict)
    grants: list[float] = field(default_factory=list)

    def budget_full(self, now: float) -> float | None:
        limit = self.config.budget_retries
        if limit is None:
            return None
        window = self.config.budget_window_minutes * MIN
        self.grants = [t for t in self.grants if t > now - window]
        if len(self.grants) >= limit:
            return self.grants[0] + window
        self.grants.append(now)
        return None

    def decide(self, key: tuple[str, str], now: float, explicit: bool) -> tuple[Any, ...]:
        r = self.records.get(key)
        if r is None or r.failures == 0:
            return (True, "first", "first_attempt", None, 1, False)
        c = r.config
        assert c is not None
        assert r.last_failure is not None
        attempt = r.failures + 1
        if r.failures > c.max_retries:
            return (False, "exhausted", "exhausted", None, attempt, False)
        phase = "base" if r.failures <= c.base_retries else "revise"
        normal = r.last_failure + c.base_wait_minutes * MIN
        early = r.last_failure + c.early_wait_minutes * MIN
        if explicit and not r.early_used:
            if now < early:
                return (False, phase, "waiting_early_window", early, attempt, False)
            wait = self.budget_full(now)
            if wait is not None:
                return (False, phase, "budget", wait, attempt, False)
            r.early_used, r.early_at = True, now
            return (True, phase, "early_retry", None, attempt, True)
        if now < normal:
            reason = "early_retry_used" if explicit else "waiting_base_window"
            return (False, phase, reason, normal, attempt, False)
        wait = self.budget_full(now)
        if wait is not None:
            return (False, phase, "budget", wait, attempt, False)
        return (True, phase, "window_open", None, attempt, False)

    def fail(self, key: tuple[str, str], now: float) -> None:
        r = self.records.setdefault(key, ModelRecord())
        if r.failures == 0:
            r.config = self.config
        r.failures += 1
        r.last_failure = now

    def succeed(self, key: tuple[str, str], now: float) -> None:
        r = self.records.get(key)
        if r is not None:
            r.failures, r.early_used, r.config, r.success_at = 0, False, None, now


class RetryMachine(RuleBasedStateMachine):
    """Random failures, successes, explicit requests, resets, config changes and time."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.manager = RetryPolicyManager(clock=self.clock)
        self.model = Model(self.manager.config)

    @initialize(config=CONFIGS)
    def configure(self, config: RetryPolicyConfig) -> None:
        self.manager.config = config
        self.model.config = config

    @rule(key=st.sampled_from(KEYS), explicit=st.booleans())
    def check(self, key: tuple[str, str], explicit: bool) -> None:
        now = self.clock.now()
        decision = run(self.manager.can_retry(*key, explicit=explicit))
        got = (
            decision.allowed,
            decision.phase,
            decision.reason,
            decision.retry_after,
            decision.attempt,
            decision.early,
        )
        assert got == self.model.decide(key, now, explicit)

    @rule(key=st.sampled_from(KEYS))
    def fail(self, key: tuple[str, str]) -> None:
        run(self.manager.record_attempt(*key, success=False))
        self.model.fail(key, self.clock.now())

    @rule(key=st.sampled_from(KEYS))
    def succeed(self, key: tuple[str, str]) -> None:
        run(self.manager.record_attempt(*key, success=True))
        self.model.succeed(key, self.clock.now())

    @rule(key=st.sampled_from(KEYS))
    def reset(self, key: tuple[str, str]) -> None:
        run(self.manager.reset(*key))
        self.model.records.pop(key, None)

    @rule(config=CONFIGS)
    def change_config(self, config: RetryPolicyConfig) -> None:
        self.manager.config = config
        self.model.config = config

    @rule(minutes=st.sampled_from([0.0, 1 / 60, 1.0, 10.0, 19.0, 20.0, 29.0, 30.0, 31.0, 600.0]))
    def advance(self, minutes: float) -> None:
        self.clock.advance(minutes * MIN)

    @precondition(lambda self: any(r.failures for r in self.model.records.values()))
    @rule(
        data=st.data(),
        window=st.sampled_from(["early", "base", 20.0, 30.0]),
        offset=st.sampled_from([-1.0, 0.0, 1.0]),
    )
    def to_boundary(self, data: st.DataObject, window: str | float, offset: float) -> None:
        """Move the clock to a key's window edge (early, base, or 20/30 minutes) +- 1 s."""
        failing = [k for k, r in self.model.records.items() if r.failures]
        r = self.model.records[data.draw(st.sampled_from(failing))]
        assert r.config is not None
        assert r.last_failure is not None
        if window == "early":
            minutes = r.config.early_wait_minutes
        elif window == "base":
            minutes = r.config.base_wait_minutes
        else:
            assert isinstance(window, float)
            minutes = window
        target = r.last_failure + minutes * MIN + offset
        if target >= self.clock.now():
            self.clock.set(target)

    @rule(bad=st.sampled_from([("", "a"), ("entity", ""), ("entity", "x" * 256)]))
    def bad_key(self, bad: tuple[str, str]) -> None:
        with pytest.raises(InvalidTarget):
            run(self.manager.record_attempt(*bad, success=False))

    @invariant()
    def records_agree(self) -> None:
        for key in KEYS:
            record = run(self.manager.get(*key))
            expected = self.model.records.get(key)
            if expected is None:
                assert record is None
                continue
            assert record is not None
            assert record.attempt_count == expected.failures
            assert record.early_retry_used == expected.early_used
            assert record.policy is expected.config
            assert record.last_attempt_at == expected.last_failure
            assert record.last_success_at == expected.success_at
            assert record.last_explicit_early_granted_at == expected.early_at
            if expected.failures:
                assert expected.config is not None
                assert expected.last_failure is not None
                opens = expected.last_failure + expected.config.base_wait_minutes * MIN
                assert record.next_allowed_at == opens
            else:
                assert record.next_allowed_at is None


RetryMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRetryMachine = RetryMachine.TestCase
