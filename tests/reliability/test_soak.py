"""One run that mixes the in-process faults, through the public API, and then checks that
nothing was stranded, lost, duplicated or miscounted.

Handlers get stray cancellations, raise, ask for early retries and hang past their own
timeout; some payloads cannot be decoded; another process holds SQLite's write lock twice
for two seconds; every built-in actor is crashed once; messages are published without
waiting before the subscription exists; and the block is left by an exception.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest

from actorgrid import BrokerSettings, RetryEarly
from actorgrid.kernel import Message
from actorgrid.kernel.testing import settle, wait_until

from ..actors.common import MIN

if TYPE_CHECKING:
    from actorgrid import DeliveryContext, Runtime

    from ..actors.conftest import RuntimeFactory

pytestmark = pytest.mark.slow

KINDS = ("ok", "flaky", "stray", "early", "hang", "doomed", "poison")
BEFORE_SUBSCRIBE = 49
AFTER_SUBSCRIBE = 161
DRAIN = 5.0

_HOLD_LOCK = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
for _ in range(2):
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    time.sleep(2.0)
    conn.execute("ROLLBACK")
    time.sleep(0.5)
print("done", flush=True)
"""


class Order(msgspec.Struct, frozen=True):
    n: int
    kind: str

    def __post_init__(self) -> None:
        if self.kind == "poison":
            raise LookupError("no such kind of order")


class Crash(Message, frozen=True):
    """No built-in actor handles it: a tell of it crashes the actor."""


class Boom(Exception):
    """The caller's own error, raised inside the block."""


def _restarts(rt: Runtime) -> int:
    assert rt.kernel is not None
    return rt.kernel.root.statistics().total_restarts


async def _stray_cancellation() -> None:
    """Await a future that someone else cancels (the worker itself is not cancelled)."""
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(future.cancel)
    await future


def _handler(calls: Counter[str]) -> Any:
    async def handler(order: Order, ctx: DeliveryContext) -> None:
        calls[ctx.message_id] += 1
        first = ctx.attempt == 1
        match order.kind:
            case "flaky" if first:
                raise ConnectionError("upstream refused")
            case "stray" if first:
                await _stray_cancellation()
            case "early" if first:
                raise RetryEarly("try again soon")
            case "hang" if first:
                with anyio.fail_after(0.05):
                    await anyio.sleep(30)
            case "doomed":
                raise ValueError("never works")

    return handler


async def _drive(
    rt: Runtime, runtimes: RuntimeFactory, kinds: dict[str, str], calls: Counter[str]
) -> float:
    """Run the mixed workload to its end, then leave the block by an exception (so this
    never returns); ``marks['raised']`` is when."""
    total = BEFORE_SUBSCRIBE + AFTER_SUBSCRIBE
    async with rt:
        rt.declare_topic("orders")
        for n in range(BEFORE_SUBSCRIBE):
            kind = KINDS[n % len(KINDS)]
            kinds[rt.publish_nowait("orders", {"n": n, "kind": kind}).id] = kind
        await rt.subscribe("orders", _handler(calls), concurrency=4, payload_type=Order)
        kernel = rt.kernel
        assert kernel is not None
        victims = ["broker", "retry-gate", "dead-letters", "pattern-engine"]
        for n in range(BEFORE_SUBSCRIBE, total):
            kind = KINDS[n % len(KINDS)]
            if n % 3:
                ids = [await rt.publish("orders", {"n": n, "kind": kind})]
            else:
                ids = await rt.publish_batch("orders", [{"n": n, "kind": kind}])
            kinds[ids[0]] = kind
            if n % 40 == 0 and victims:
                before = _restarts(rt)
                await kernel.lookup(victims.pop()).tell(Crash())
                await wait_until(lambda: _restarts(rt) > before)  # noqa: B023 - awaited here
        assert not victims
        # Retries come due as the fake clock moves; the lock holder stalls the writer
        # meanwhile, in real time.
        with anyio.fail_after(60):
            while True:
                stats = rt.statistics()
                if stats.acked + stats.dead >= total and stats.running == 0:
                    break
                runtimes.clock.advance(11 * MIN)
                await settle()
                await anyio.sleep(0.02)
        await rt.flush()
        raised = time.monotonic()
        raise Boom(raised)


async def test_soak(runtimes: RuntimeFactory) -> None:
    calls: Counter[str] = Counter()
    kinds: dict[str, str] = {}
    rt = runtimes(broker=BrokerSettings(drain_timeout=DRAIN))
    held: list[str] = []

    async def hold_lock() -> None:
        done = await anyio.run_process([sys.executable, "-c", _HOLD_LOCK, str(runtimes.path)])
        held.extend(done.stdout.decode().split())

    async with anyio.create_task_group() as tg:
        tg.start_soon(hold_lock)
        with pytest.raises(Boom) as info:
            await _drive(rt, runtimes, kinds, calls)
        stopped_in = time.monotonic() - info.value.args[0]
    assert held == ["locked", "locked", "done"]

    # Every accepted message ends done or dead.
    states = dict(runtimes.query("SELECT id, state FROM messages"))
    assert set(states) == set(kinds)
    assert Counter(states.values()) == Counter(
        "dead" if kind in ("doomed", "poison") else "done" for kind in kinds.values()
    )
    # Exactly one dead letter per dead message, with the reason its kind calls for.
    letters = runtimes.query("SELECT message_id, reason FROM dead_letters")
    assert len(letters) == len({m for m, _ in letters})
    assert dict(letters) == {
        m: ("undecodable" if kind == "poison" else "exhausted")
        for m, kind in kinds.items()
        if kind in ("doomed", "poison")
    }
    # Every attempt ran once: the row's failure count and the handler's calls agree, and so
    # does the target's retry record.
    rows = runtimes.query("SELECT id, attempts, state FROM messages")
    records = dict(
        runtimes.query(
            "SELECT target_id, attempt_count FROM retry_records WHERE target_type = ?", "orders"
        )
    )
    for message_id, attempts, state in rows:
        kind = kinds[message_id]
        if kind == "poison":
            assert (calls[message_id], attempts) == (0, 0)
        elif state == "dead":
            assert calls[message_id] == attempts == 6, kind
            assert records.get(message_id) == attempts
        else:
            assert calls[message_id] == attempts + 1, (kind, attempts)
            assert attempts == (0 if kind == "ok" else 1), kind
            assert records.get(message_id, 0) == 0
    # The stop after the caller's exception was the bounded, graceful one.
    assert stopped_in <= DRAIN + rt.config.storage.close_timeout
