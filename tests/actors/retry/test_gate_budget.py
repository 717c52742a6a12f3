"""The retry budget is charged once per retry, however short the windows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actorgrid import RetryPolicyConfig, StorageSettings
from actorgrid.kernel.testing import settle, wait_until

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory


async def test_budget_counts_each_retry_once_with_open_windows(
    runtimes: RuntimeFactory,
) -> None:
    """With base and early waits of 0 the window is open when a failure is recorded: that
    forecast must not take a slot, or each retry costs two. A budget of 4 allows 4 retries."""
    attempts: list[int] = []

    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        attempts.append(ctx.attempt)
        raise RuntimeError("always fails")

    policy = RetryPolicyConfig(
        base_wait_minutes=0,
        early_wait_minutes=0,
        max_retries=5,
        base_retries=2,
        budget_retries=4,
        budget_window_minutes=60,
    )
    async with runtimes(storage=StorageSettings(url=None), retry=policy) as rt:
        rt.declare_topic("jobs", durable=False)
        await rt.subscribe("jobs", handler)
        await rt.publish("jobs", {"n": 1}, target=("job", "j1"))
        await wait_until(lambda: len(attempts) >= 5, timeout=10)
        await settle()
        assert len(attempts) == 5  # the first attempt and 4 budgeted retries, no more
        record = await rt.retry_record("job", "j1")
        assert record is not None
        assert record.attempt_count == 5
