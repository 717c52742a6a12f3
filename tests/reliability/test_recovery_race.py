"""A publish or a dead-letter replay racing a subscription's backlog recovery.

The window is the one a busy event loop opens: the row is committed, and the publisher has
not dispatched it yet when the new subscription's recovery reads its page. The pause is an
event the test holds (not a sleep), released once the recovery has finished; the message
must still be handled exactly once in the run.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from actorgrid.actors.broker import Broker, BrokerCore
from actorgrid.kernel.testing import wait_until

from ..actors.conftest import RuntimeFactory

if TYPE_CHECKING:
    from pathlib import Path

    from actorgrid import DeliveryContext

pytestmark = pytest.mark.anyio


@pytest.fixture
def runtimes(tmp_path: Path) -> RuntimeFactory:
    """Runtimes on ``tmp_path/actorgrid.db`` with a fake clock."""
    return RuntimeFactory(tmp_path / "actorgrid.db")


class Window:
    """Pauses the first dispatch of ``topic`` until :meth:`release`; tells when the topic's
    backlog recovery has finished."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, topic: str) -> None:
        self.paused = anyio.Event()
        self.recovered = anyio.Event()
        self._release = anyio.Event()
        self._first = True
        dispatch, load_ready = BrokerCore.dispatch, Broker._load_ready
        window = self

        async def paused_dispatch(core: BrokerCore, d: Any) -> None:
            if window._first and d.topic == topic:
                window._first = False
                window.paused.set()  # the row is committed; its dispatch waits here
                await window._release.wait()
            await dispatch(core, d)

        async def watched_load_ready(broker: Broker, name: str) -> None:
            try:
                await load_ready(broker, name)
            finally:
                if name == topic:
                    window.recovered.set()

        monkeypatch.setattr(BrokerCore, "dispatch", paused_dispatch)
        monkeypatch.setattr(Broker, "_load_ready", watched_load_ready)

    def release(self) -> None:
        self._release.set()


def counting(calls: Counter[str]) -> Any:
    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        calls[ctx.message_id] += 1

    return handler


class TestRecoveryRace:
    async def test_a_publish_committed_before_the_recovery_read_is_delivered_once(
        self, runtimes: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A durable publish whose row commits before the subscription's recovery reads
        its page, and whose dispatch comes after: one delivery."""
        window = Window(monkeypatch, "jobs")
        calls: Counter[str] = Counter()
        ids: list[str] = []
        async with runtimes() as rt:
            rt.declare_topic("jobs")

            async def publish() -> None:
                ids.append(await rt.publish("jobs", {"n": 1}))

            async with anyio.create_task_group() as tg:
                tg.start_soon(publish)
                await window.paused.wait()
                await rt.subscribe("jobs", counting(calls))
                await window.recovered.wait()
                window.release()
            await wait_until(lambda: sum(calls.values()) >= 1)
            assert await rt.drain(5.0)
            await rt.flush()
        assert dict(calls) == {ids[0]: 1}
        assert runtimes.query("SELECT id, state FROM messages") == [(ids[0], "done")]

    async def test_a_replay_committed_before_the_recovery_read_is_delivered_once(
        self, runtimes: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A dead-letter replay whose row commits before the subscription's recovery reads
        its page, and whose dispatch comes after: one delivery."""

        async def fails(payload: Any, ctx: DeliveryContext) -> None:
            raise LookupError("fails for good")

        async with runtimes() as rt:  # an earlier run leaves one dead letter on "jobs"
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", fails, non_retryable=(LookupError,))
            await rt.publish("jobs", {"n": 1})
            await wait_until(lambda: rt.statistics().dead == 1)
            assert await rt.drain(5.0)

        window = Window(monkeypatch, "jobs")
        calls: Counter[str] = Counter()
        replayed: list[str] = []
        async with runtimes() as rt:
            rt.declare_topic("jobs")

            async def replay() -> None:
                result = await rt.dead_letters.replay(everything=True)
                replayed.extend(message_id for _, message_id in result.replayed)

            async with anyio.create_task_group() as tg:
                tg.start_soon(replay)
                await window.paused.wait()
                await rt.subscribe("jobs", counting(calls))
                await window.recovered.wait()
                window.release()
            assert len(replayed) == 1
            await wait_until(lambda: sum(calls.values()) >= 1)
            assert await rt.drain(5.0)
            await rt.flush()
        assert dict(calls) == {replayed[0]: 1}
        assert runtimes.query("SELECT state FROM messages WHERE id = ?", replayed[0]) == [("done",)]
