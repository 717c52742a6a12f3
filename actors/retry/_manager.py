"""The async retry-policy facade: the pure :class:`RetryPolicy` over a :class:`RetryStore`."""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from actorgrid.kernel import SystemClock

from ._policy import Decision, RetryPolicy, RetryPolicyConfig, RetryRecord, validate_target
from ._store import InMemoryRetryStore

if TYPE_CHECKING:
    import random

    from actorgrid.kernel import Clock

    from ._store import RetryStore

__all__ = ("RetryPolicyManager",)


@final
class RetryPolicyManager:
    """Async facade: the pure :class:`RetryPolicy` over a :class:`RetryStore`.

    With the default :class:`InMemoryRetryStore` the records are read and changed in place,
    without awaiting the store. Records returned are the live ones: read them, don't change
    them. A success for a target without a record is not stored (nothing to remember).

    Args:
        config: the policy for new cycles (default: the defaults).
        store: where records live (default: a new :class:`InMemoryRetryStore`).
        clock: source of the current time (default: :class:`SystemClock`).
        rng: source of jitter (default: a fresh ``random.Random``).
    """

    __slots__ = ("_by_type", "_clock", "_decide", "_now", "_policy", "_record", "_store")

    def __init__(
        self,
        config: RetryPolicyConfig | None = None,
        store: RetryStore | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._policy = RetryPolicy(config, rng)
        self._store: RetryStore = store if store is not None else InMemoryRetryStore()
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._by_type: dict[str, dict[str, RetryRecord]] | None = (
            self._store._by_type if type(self._store) is InMemoryRetryStore else None
        )
        # Bound once: the hot path is a dict lookup and a call into the pure core.
        self._decide = self._policy.decide
        self._record = self._policy.record_attempt
        self._now = self._clock.now

    @property
    def config(self) -> RetryPolicyConfig:
        """The policy for cycles that begin from now on; running cycles keep their snapshot."""
        return self._policy.config

    @config.setter
    def config(self, config: RetryPolicyConfig) -> None:
        self._policy.config = config

    @property
    def policy(self) -> RetryPolicy:
        """The synchronous core."""
        return self._policy

    @property
    def store(self) -> RetryStore:
        """The store the records live in."""
        return self._store

    async def can_retry(self, target_type: str, target_id: str, explicit: bool = False) -> Decision:
        """Decide whether the target may be attempted now.

        Args:
            target_type: the kind of target.
            target_id: the target's identifier.
            explicit: whether a faster (early) retry is asked for.

        Returns:
            The decision; a granted early retry is recorded on the target's record.

        Raises:
            InvalidTarget: for a bad key (nothing is read or changed).
        """
        validate_target(target_type, target_id)
        by_type = self._by_type
        if by_type is not None:
            inner = by_type.get(target_type)
            record = inner.get(target_id) if inner is not None else None
            return self._decide(record, self._now(), explicit)
        record = await self._store.get(target_type, target_id)
        if record is None:
            return self._decide(None, self._now(), explicit)
        version = record.version
        decision = self._decide(record, self._now(), explicit)
        if record.version != version:
            await self._store.put(record)
        return decision

    async def record_attempt(self, target_type: str, target_id: str, success: bool) -> RetryRecord:
        """Record the outcome of an attempt on the target.

        Args:
            target_type: the kind of target.
            target_id: the target's identifier.
            success: whether the attempt succeeded.

        Returns:
            The target's record after the change.

        Raises:
            InvalidTarget: for a bad key (nothing is read or changed).
        """
        validate_target(target_type, target_id)
        now = self._now()
        by_type = self._by_type
        if by_type is not None:
            inner = by_type.get(target_type)
            record = inner.get(target_id) if inner is not None else None
            if record is not None:
                return self._record(record, now, success)
            record = self._record(RetryRecord(target_type, target_id), now, success)
            if not success:
                if inner is None:
                    inner = by_type[target_type] = {}
                inner[target_id] = record
            return record
        stored = await self._store.get(target_type, target_id)
        record = stored if stored is not None else RetryRecord(target_type, target_id)
        self._record(record, now, success)
        if stored is not None or not success:
            await self._store.put(record)
        return record

    async def reset(self, target_type: str, target_id: str) -> None:
        """Forget the target's record; its next attempt is a first attempt.

        Raises:
            InvalidTarget: for a bad key (nothing is changed).
        """
        validate_target(target_type, target_id)
        await self._store.delete(target_type, target_id)

    async def get(self, target_type: str, target_id: str) -> RetryRecord | None:
        """Return the target's record, or None when it has none.

        Raises:
            InvalidTarget: for a bad key.
        """
        validate_target(target_type, target_id)
        return await self._store.get(target_type, target_id)
