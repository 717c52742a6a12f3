"""Publishing without waiting: nothing published before ``subscribe`` is left behind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actorgrid import StorageSettings
from actorgrid.kernel.testing import wait_until

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory


async def test_publish_nowait_before_subscribe_is_delivered_once(
    runtimes: RuntimeFactory,
) -> None:
    """The writer commits later than the subscription's recovery read (a slow group commit):
    every message still reaches the handler in this run, and exactly once."""
    seen: list[int] = []

    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        seen.append(payload["n"])

    slow_commit = StorageSettings(url=runtimes.url, max_delay=0.2)
    async with runtimes(storage=slow_commit) as rt:
        rt.declare_topic("jobs")
        for n in range(50):
            rt.publish_nowait("jobs", {"n": n})
        await rt.subscribe("jobs", handler)
        for n in range(50, 60):  # while the recovery read may still be paging
            rt.publish_nowait("jobs", {"n": n})
        await wait_until(lambda: len(seen) >= 60)
        assert await rt.drain(5.0)
        await rt.flush()
    assert sorted(seen) == list(range(60))
    assert runtimes.query("SELECT state, COUNT(*) FROM messages GROUP BY state") == [("done", 60)]
