"""``Runtime.dead_letters``: one filter shape for list, count, replay and purge."""

from __future__ import annotations

import builtins
import inspect
from typing import TYPE_CHECKING, Any

import pytest

from actorgrid import DeliveryContext, InvalidArgument, Runtime
from actorgrid.actors.dead_letters import DeadLetters
from actorgrid.kernel.testing import wait_until

if TYPE_CHECKING:
    from ..conftest import RuntimeFactory

FILTER_KEYWORDS = ("topic", "error_type", "reason", "since", "until")


class Refused(Exception):
    pass


async def with_dead_letters(rt: Runtime, handled: list[str]) -> None:
    """Dead-letter two messages of "orders" and one of "mail" (non-retryable failures)."""

    async def handler(payload: str, ctx: DeliveryContext) -> None:
        handled.append(payload)
        raise Refused(payload)

    for topic in ("orders", "mail"):
        rt.declare_topic(topic)
        await rt.subscribe(topic, handler, non_retryable=(Refused,))
    await rt.publish("orders", "o1")
    await rt.publish("orders", "o2")
    await rt.publish("mail", "m1")
    await wait_until(lambda: rt.statistics().dead == 3)
    await rt.flush()


class TestOneFilterShape:
    def test_the_four_operations_take_the_same_filter_keywords(self) -> None:
        """list, count, replay and purge all take the five filter keywords, and no
        parameter of any method is named after a builtin."""
        for name in ("list", "count", "replay", "purge"):
            params = inspect.signature(getattr(DeadLetters, name)).parameters
            assert set(FILTER_KEYWORDS) <= set(params), name
            assert not [p for p in params if hasattr(builtins, p)], name

    async def test_replay_and_purge_select_with_the_filter_list_uses(
        self, runtimes: RuntimeFactory
    ) -> None:
        """The filter that lists the orders' dead letters replays them, then purges the
        mail's: the others stay untouched."""
        handled: list[str] = []
        async with runtimes() as rt:
            await with_dead_letters(rt, handled)
            dl = rt.dead_letters
            assert await dl.count(topic="orders", error_type="Refused") == 2
            result = await dl.replay(topic="orders", error_type="Refused")
            assert len(result.replayed) == 2
            await wait_until(lambda: sorted(handled) == ["m1", "o1", "o1", "o2", "o2"])
            assert await dl.purge(topic="mail", reason="non_retryable") == 1
            assert await dl.count(topic="mail") == 0
            assert await dl.count(topic="orders") >= 2

    async def test_everything_takes_the_explicit_opt_in(self, runtimes: RuntimeFactory) -> None:
        """Without a selector nothing is replayed or purged; everything=True purges all."""
        async with runtimes() as rt:
            await with_dead_letters(rt, [])
            dl = rt.dead_letters
            with pytest.raises(InvalidArgument, match="everything=True"):
                await dl.replay()
            with pytest.raises(InvalidArgument, match="everything=True"):
                await dl.purge()
            assert await dl.count() == 3
            assert await dl.purge(everything=True) == 3
            assert await dl.count() == 0

    async def test_older_than_is_part_of_the_purge_filter(self, runtimes: RuntimeFactory) -> None:
        """older_than combines with the other filter keywords."""
        async with runtimes() as rt:
            await with_dead_letters(rt, [])
            runtimes.clock.advance(3600)
            dl = rt.dead_letters
            assert await dl.purge(topic="orders", older_than=7200) == 0
            assert await dl.purge(topic="orders", older_than=1800) == 2
            assert await dl.count() == 1

    @pytest.mark.parametrize(
        ("method", "arguments"),
        [
            ("replay", {"topic": ""}),
            ("replay", {"ids": "one-id"}),
            ("replay", {"ids": ["x"], "topic": "orders"}),
            ("replay", {"topic": "orders", "everything": True}),
            ("purge", {"since": 10.0, "until": 5.0}),
            ("purge", {"older_than": -1.0}),
            ("purge", {"ids": ["x"], "older_than": 5.0}),
            ("list", {"reason": 3}),
            ("count", {"until": float("nan")}),
        ],
    )
    async def test_a_bad_selection_is_refused_and_changes_nothing(
        self, runtimes: RuntimeFactory, method: str, arguments: dict[str, Any]
    ) -> None:
        """A bad filter, ids or a mixed selection raise InvalidArgument; nothing changes."""
        async with runtimes() as rt:
            await with_dead_letters(rt, [])
            with pytest.raises(InvalidArgument):
                await getattr(rt.dead_letters, method)(**arguments)
            page = await rt.dead_letters.list()
            assert page.total == 3
            assert all(entry.replayed_at is None for entry in page.entries)
