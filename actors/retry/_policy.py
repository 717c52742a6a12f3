"""Time-windowed retry policy: configuration, per-target records, decisions and the pure core.

The phase table (DESIGN.md, "Retry semantics"), with ``n`` the failures in the current cycle:

- ``n == 0``: allowed, phase ``first``.
- ``n > max_retries``: denied, phase ``exhausted`` (the broker dead-letters).
- ``1 <= n <= base_retries``: phase ``base``; ``base_retries < n <= max_retries``: phase
  ``revise``. Either is allowed once ``now >= next_allowed_at`` (set when the failure was
  recorded: ``last_attempt_at`` + the wait of the cycle's policy snapshot).
- ``explicit=True``: allowed once per cycle as soon as ``now >= last_attempt_at +
  early_wait``; that grant is the early retry (``early=True``). Once it is used, an explicit
  request follows the normal rule. An early retry shortens one wait; it adds no retry.

Choices made where DESIGN.md is silent:

- An unused early retry is granted (and used up) by an explicit request even when the
  normal window is open too: the glimpse runs before every explicit attempt it can.
- ``early_wait_minutes > base_wait_minutes`` is rejected: an explicit request must never
  wait longer than a plain one. With jitter a normal window can still open before the early
  window; an explicit request then follows the normal window (and keeps its early retry).
- A decision is a grant: with a budget, every allowed retry (attempt >= 2) takes a slot.
  The budget is global, so it follows the current config, not a cycle's snapshot.

:class:`RetryPolicy` is the synchronous core the retry gate calls on its hot path.
"""

from __future__ import annotations

import math
import random
import re
from collections import deque
from typing import TYPE_CHECKING, Annotated, Final, Literal, final

import msgspec

from actorgrid.storage import KEY_MAX_LENGTH

from .._exceptions import InvalidRetryPolicy, InvalidTarget

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "Decision",
    "Phase",
    "Reason",
    "RetryPolicy",
    "RetryPolicyConfig",
    "RetryRecord",
    "validate_target",
)

Phase = Literal["first", "base", "revise", "exhausted"]
Reason = Literal[
    "first_attempt",
    "window_open",
    "early_retry",
    "waiting_base_window",
    "waiting_early_window",
    "early_retry_used",
    "exhausted",
    "budget",
]

_MINUTE: Final = 60.0
_NON_NEGATIVE = msgspec.Meta(ge=0)


def validate_target(target_type: object, target_id: object) -> None:
    """Check a retry target key; every public entry point calls this before anything else.

    Args:
        target_type: the kind of target, e.g. ``"entity"``.
        target_id: the target's identifier, e.g. ``"entity-123"``.

    Raises:
        InvalidTarget: when either part is not a string, is empty, or is longer than
            ``KEY_MAX_LENGTH`` (255) characters.
    """
    if (
        isinstance(target_type, str)
        and isinstance(target_id, str)
        and 0 < len(target_type) <= KEY_MAX_LENGTH
        and 0 < len(target_id) <= KEY_MAX_LENGTH
    ):
        return
    for field, value in (("target_type", target_type), ("target_id", target_id)):
        if not isinstance(value, str):
            raise InvalidTarget(field, value, f"must be a str, not {type(value).__name__}")
        if not value:
            raise InvalidTarget(field, value, "must not be empty")
        if len(value) > KEY_MAX_LENGTH:
            raise InvalidTarget(
                field, value, f"is {len(value)} characters long (at most {KEY_MAX_LENGTH})"
            )


def _check_number(field: str, value: object, *, integer: bool, minimum: float) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (integer and not isinstance(value, int))
    ):
        kind = "an int" if integer else "a number"
        raise InvalidRetryPolicy(field, value, f"must be {kind}, not {type(value).__name__}")
    if not math.isfinite(value):
        raise InvalidRetryPolicy(field, value, "must be finite")
    if value < minimum:
        raise InvalidRetryPolicy(field, value, f"must be >= {minimum:g}")


class RetryPolicyConfig(msgspec.Struct, frozen=True, kw_only=True):
    """How long to wait between retries of one target, and how many retries to allow.

    Invalid values raise :class:`InvalidRetryPolicy` on construction. When the config is
    decoded by msgspec (``msgspec.toml.decode(..., type=RetryPolicyConfig)``,
    ``msgspec.convert``), a bad value raises ``msgspec.ValidationError`` naming the field and
    its path; :meth:`from_builtins` turns both cases into :class:`InvalidRetryPolicy`.

    ``early_wait_minutes`` may not exceed ``base_wait_minutes``: an explicit early retry
    must never wait longer than a normal one. ``jitter`` applies to either backoff; the wait
    is drawn once, when the failure is recorded.
    """

    base_wait_minutes: Annotated[float, _NON_NEGATIVE] = 30.0
    """Wait after a failure before the next base or revise retry (fixed backoff)."""
    base_retries: Annotated[int, _NON_NEGATIVE] = 2
    """Retries in the ``base`` phase; later ones, up to ``max_retries``, are ``revise``."""
    early_wait_minutes: Annotated[float, _NON_NEGATIVE] = 20.0
    """Wait after a failure before the one explicit early retry of a cycle."""
    max_retries: Annotated[int, _NON_NEGATIVE] = 5
    """Retries allowed in a cycle; after ``max_retries + 1`` failures the target is exhausted."""
    backoff: Literal["fixed", "exponential"] = "fixed"
    """``fixed``: always ``base_wait``; ``exponential``: ``base_wait * factor**(n-1)``."""
    backoff_factor: Annotated[float, msgspec.Meta(ge=1)] = 2.0
    """Growth of the exponential wait per failure."""
    max_wait_minutes: Annotated[float, _NON_NEGATIVE] = 24 * 60.0
    """Cap of the exponential wait."""
    jitter: Literal["none", "full", "equal"] = "none"
    """``full``: uniform in ``[0, wait]``; ``equal``: ``wait/2`` + uniform in ``[0, wait/2]``."""
    budget_retries: Annotated[int, msgspec.Meta(ge=1)] | None = None
    """At most this many retries granted per rolling window across all targets (None: off)."""
    budget_window_minutes: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    """Length of the rolling budget window."""

    def __post_init__(self) -> None:
        _check_number("base_wait_minutes", self.base_wait_minutes, integer=False, minimum=0)
        _check_number("base_retries", self.base_retries, integer=True, minimum=0)
        _check_number("early_wait_minutes", self.early_wait_minutes, integer=False, minimum=0)
        _check_number("max_retries", self.max_retries, integer=True, minimum=0)
        _check_number("backoff_factor", self.backoff_factor, integer=False, minimum=1)
        _check_number("max_wait_minutes", self.max_wait_minutes, integer=False, minimum=0)
        _check_number("budget_window_minutes", self.budget_window_minutes, integer=False, minimum=0)
        if self.budget_window_minutes == 0:
            raise InvalidRetryPolicy("budget_window_minutes", 0, "must be > 0")
        if self.budget_retries is not None:
            _check_number("budget_retries", self.budget_retries, integer=True, minimum=1)
        if self.backoff not in ("fixed", "exponential"):
            raise InvalidRetryPolicy("backoff", self.backoff, "must be 'fixed' or 'exponential'")
        if self.jitter not in ("none", "full", "equal"):
            raise InvalidRetryPolicy("jitter", self.jitter, "must be 'none', 'full' or 'equal'")
        if self.max_retries < self.base_retries:
            raise InvalidRetryPolicy(
                "max_retries", self.max_retries, f"must be >= base_retries ({self.base_retries})"
            )
        if self.early_wait_minutes > self.base_wait_minutes:
            raise InvalidRetryPolicy(
                "early_wait_minutes",
                self.early_wait_minutes,
                f"must be <= base_wait_minutes ({self.base_wait_minutes:g})",
            )
        if self.backoff == "exponential" and self.max_wait_minutes < self.base_wait_minutes:
            raise InvalidRetryPolicy(
                "max_wait_minutes",
                self.max_wait_minutes,
                f"must be >= base_wait_minutes ({self.base_wait_minutes:g}) for exponential",
            )

    @classmethod
    def from_builtins(cls, data: Mapping[str, object]) -> RetryPolicyConfig:
        """Build a config from a mapping (decoded TOML/JSON, a stored policy snapshot).

        Unknown keys are ignored and missing ones take their defaults.

        Args:
            data: field names to values.

        Returns:
            The validated config.

        Raises:
            InvalidRetryPolicy: when a value has the wrong type or is out of range.
        """
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            if isinstance(exc.__cause__, InvalidRetryPolicy):
                raise exc.__cause__ from None
            text = str(exc)
            match = re.search(r" - at `\$\.(\w+)`$", text)
            field = match.group(1) if match else "policy"
            problem = text[: match.start()] if match else text
            raise InvalidRetryPolicy(field, data.get(field), problem) from None


class RetryRecord(msgspec.Struct, gc=False):
    """Retry state of one target in its current cycle; mutable, owned by a single actor.

    Times are UTC epoch seconds. ``policy`` is the config in force when the cycle began; it
    is shared with every other record of that cycle's config, never copied.
    """

    target_type: str
    target_id: str
    attempt_count: int = 0
    """Failures in the current cycle."""
    early_retry_used: bool = False
    last_attempt_at: float | None = None
    """When the last failure was recorded."""
    last_success_at: float | None = None
    next_allowed_at: float | None = None
    """When the next base/revise retry opens."""
    last_explicit_early_granted_at: float | None = None
    policy: RetryPolicyConfig | None = None
    """The policy snapshot of the running cycle; ``None`` outside a cycle."""
    version: int = 0
    """Bumped on every change; a stored copy is never replaced by an older version."""


class Decision(msgspec.Struct, frozen=True):
    """The answer to "may this target be attempted now?"."""

    allowed: bool
    phase: Phase
    reason: Reason
    retry_after: float | None
    """When a denied-for-now attempt may be allowed (epoch seconds); None if never/allowed."""
    attempt: int
    """1-based number of the attempt this decision concerns (failures so far + 1)."""
    early: bool = False
    """True when this grant is the cycle's explicit early retry (the glimpse runs)."""


_FIRST: Final = Decision(True, "first", "first_attempt", None, 1)


@final
class RetryPolicy:
    """The synchronous phase table: decisions and attempt bookkeeping, no I/O, no awaits.

    The global budget (``budget_retries`` per rolling window) is kept here and uses the
    current config; everything else uses the record's policy snapshot.

    Args:
        config: the policy for cycles that begin from now on (default: the defaults).
        rng: source of jitter (default: a fresh ``random.Random``).
    """

    __slots__ = ("_grants", "_rng", "config")

    def __init__(
        self, config: RetryPolicyConfig | None = None, rng: random.Random | None = None
    ) -> None:
        self.config = config if config is not None else RetryPolicyConfig()
        """Policy snapshotted by cycles that begin from now on; may be replaced at any time."""
        self._rng = rng if rng is not None else random.Random()
        self._grants: deque[float] = deque()

    def decide(
        self, record: RetryRecord | None, now: float, explicit: bool = False, *, grant: bool = True
    ) -> Decision:
        """Decide whether the target of ``record`` may be attempted at ``now``.

        A granted explicit early retry marks the record (``early_retry_used``,
        ``last_explicit_early_granted_at``, ``version``); nothing else is changed. An
        allowed retry (attempt >= 2) takes a budget slot when a budget is set.

        Args:
            record: the target's record, or None when it has none (first attempt).
            now: the current time, epoch seconds.
            explicit: whether a faster retry was asked for.
            grant: False for a forecast (when may the next attempt run?) that takes no budget
                slot; the attempt itself asks again and is the one that takes it.

        Returns:
            The decision.
        """
        if record is None:
            return _FIRST
        n = record.attempt_count
        if n == 0:
            return _FIRST
        policy = record.policy
        if policy is None:
            policy = self.config
        if n > policy.max_retries:
            return Decision(False, "exhausted", "exhausted", None, n + 1)
        phase: Phase = "base" if n <= policy.base_retries else "revise"
        opens = record.next_allowed_at
        if opens is None:
            last = record.last_attempt_at
            opens = now if last is None else last + policy.base_wait_minutes * _MINUTE
        if explicit and not record.early_retry_used:
            last = record.last_attempt_at
            early_opens = now if last is None else last + policy.early_wait_minutes * _MINUTE
            if now >= early_opens:
                if self.config.budget_retries is not None:
                    wait_until = self._take_budget(now)
                    if wait_until is not None:
                        return Decision(False, phase, "budget", wait_until, n + 1)
                record.early_retry_used = True
                record.last_explicit_early_granted_at = now
                record.version += 1
                return Decision(True, phase, "early_retry", None, n + 1, True)
            if now < opens:
                return Decision(
                    False, phase, "waiting_early_window", min(early_opens, opens), n + 1
                )
        if now >= opens:
            if self.config.budget_retries is not None:
                wait_until = self._take_budget(now, take=grant)
                if wait_until is not None:
                    return Decision(False, phase, "budget", wait_until, n + 1)
            return Decision(True, phase, "window_open", None, n + 1)
        reason: Reason = "early_retry_used" if explicit else "waiting_base_window"
        return Decision(False, phase, reason, opens, n + 1)

    def record_attempt(self, record: RetryRecord, now: float, success: bool) -> RetryRecord:
        """Record the outcome of an attempt on ``record`` (changed in place) and return it.

        A failure increments ``attempt_count``, sets ``last_attempt_at`` and
        ``next_allowed_at``, and snapshots the current config when the cycle begins. A
        success ends the cycle: count 0, early flag off, ``last_success_at`` set,
        ``next_allowed_at`` and the snapshot cleared.

        Args:
            record: the target's record.
            now: when the attempt ended, epoch seconds.
            success: whether it succeeded.

        Returns:
            ``record``.
        """
        if success:
            record.attempt_count = 0
            record.early_retry_used = False
            record.last_success_at = now
            record.next_allowed_at = None
            record.policy = None
        else:
            policy = record.policy
            if policy is None or record.attempt_count == 0:
                policy = record.policy = self.config
            n = record.attempt_count = record.attempt_count + 1
            record.last_attempt_at = now
            if policy.backoff == "fixed" and policy.jitter == "none":
                record.next_allowed_at = now + policy.base_wait_minutes * _MINUTE
            else:
                record.next_allowed_at = now + self.next_wait(n, policy)
        record.version += 1
        return record

    def next_wait(self, failures: int, policy: RetryPolicyConfig | None = None) -> float:
        """Return the wait in seconds after the ``failures``-th failure of a cycle.

        Jitter, when configured, is drawn here, from this policy's random source.

        Args:
            failures: failures in the cycle so far, including this one (>= 1).
            policy: the cycle's snapshot (default: the current config).

        Returns:
            Seconds until the next base/revise retry opens.
        """
        p = policy if policy is not None else self.config
        wait = p.base_wait_minutes * _MINUTE
        if p.backoff == "exponential":
            cap = p.max_wait_minutes * _MINUTE
            try:
                wait = min(wait * p.backoff_factor ** max(failures - 1, 0), cap)
            except OverflowError:
                wait = cap
        if p.jitter == "full":
            wait = self._rng.uniform(0.0, wait)
        elif p.jitter == "equal":
            wait = wait / 2 + self._rng.uniform(0.0, wait / 2)
        return wait

    def budget_in_use(self, now: float) -> int:
        """Return how many budget slots are taken in the window ending at ``now``."""
        self._expire(now, self.config.budget_window_minutes * _MINUTE)
        return len(self._grants)

    def _expire(self, now: float, window: float) -> None:
        grants = self._grants
        horizon = now - window
        while grants and grants[0] <= horizon:
            grants.popleft()

    def _take_budget(self, now: float, *, take: bool = True) -> float | None:
        limit = self.config.budget_retries
        window = self.config.budget_window_minutes * _MINUTE
        self._expire(now, window)
        if limit is not None and len(self._grants) >= limit:
            return self._grants[0] + window
        if take:
            self._grants.append(now)
        return None
