"""A durable publish cancelled while it waits for its commit is published whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio

from actorgrid import StorageSettings
from actorgrid.kernel.testing import wait_until

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from ..conftest import RuntimeFactory


async def test_cancelled_publish_is_committed_and_delivered_in_the_same_run(
    runtimes: RuntimeFactory,
) -> None:
    """The caller's scope is cancelled while the commit is pending (a slow group commit):
    the row commits, the handler runs in this run, and the row ends done."""
    seen: list[int] = []

    async def handler(payload: dict[str, int], ctx: DeliveryContext) -> None:
        seen.append(payload["n"])

    slow_commit = StorageSettings(url=runtimes.url, max_delay=0.2)
    async with runtimes(storage=slow_commit) as rt:
        rt.declare_topic("jobs")
        await rt.subscribe("jobs", handler)
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(rt.publish, "jobs", {"n": 1})
                await anyio.lowlevel.checkpoint()  # the publish is waiting for its commit
                scope.cancel()
        assert scope.cancelled_caught
        await wait_until(lambda: seen == [1])
        assert await rt.drain(5.0)
    assert runtimes.query("SELECT state FROM messages") == [("done",)]
