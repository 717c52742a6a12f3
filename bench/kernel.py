"""Kernel benchmark: tell, tell_nowait and ask against bare asyncio and Pykka; spawn, memory,
restarts.

Every subject runs in the same process and run as its baseline, repetitions interleaved, best
of each kept. The kernel's log output is silenced so a crash costs the restart, not a
traceback printed to the terminal. With uvloop installed (the ``fast`` extra) the message
figures are measured again on uvloop, against the same baselines on uvloop.

Run: ``python -m bench.kernel --quick`` (about half a minute) or ``--full``.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import statistics
import threading
import time
import tracemalloc
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from actorgrid.kernel import Actor, ChildSpec, Kernel, KernelConfig, Message, SupervisorSpec
from bench._common import (
    Figure,
    Mode,
    Tally,
    best_of,
    main_for,
    note,
    pair,
    queue_put_get,
    queue_put_nowait,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from actorgrid.kernel import ActorRef

CAPACITY = 1000
"""Mailbox capacity of every actor here, and maxsize of every baseline queue."""


class Tick(Message, frozen=True):
    """The message every throughput figure sends (one instance, sent over and over)."""

    n: int = 0


class Crash(Message, frozen=True):
    """Makes the restart subject raise."""


TICK = Tick(1)
CRASH = Crash()


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work one mode does."""

    runs: int
    tells: int
    asks: int
    pykka_tells: int
    pykka_asks: int
    spawns: int
    idle: int
    restarts: int


QUICK = Sizes(
    runs=5,
    tells=150_000,
    asks=15_000,
    pykka_tells=40_000,
    pykka_asks=2_000,
    spawns=1_000,
    idle=10_000,
    restarts=1_000,
)
FULL = Sizes(
    runs=7,
    tells=1_000_000,
    asks=100_000,
    pykka_tells=200_000,
    pykka_asks=10_000,
    spawns=10_000,
    idle=100_000,
    restarts=2_000,
)


class _Counter(Actor[Tick]):
    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    async def receive(self, message: Tick) -> None:
        self.tally.hit()


class _Echo(Actor[Tick]):
    async def receive(self, message: Tick) -> Tick:
        return message


class _Idle(Actor[Tick]):
    pass


class _Crasher(Actor[Tick | Crash]):
    """Raises on ``Crash``; records when each ``Tick`` is handled."""

    def __init__(self, handled: list[float], wake: list[asyncio.Event]) -> None:
        self.handled = handled
        self.wake = wake

    async def receive(self, message: Tick | Crash) -> None:
        if isinstance(message, Crash):
            raise RuntimeError("crash on purpose")
        self.handled.append(time.perf_counter())
        self.wake[0].set()


# -- tell -------------------------------------------------------------------------------


async def kernel_tell(n: int, *, strict: bool = False) -> float:
    """One producer awaiting ``ref.tell`` into a counting actor; msgs/s."""
    tally = Tally(n)
    async with Kernel(KernelConfig(strict_messages=strict, mailbox_capacity=CAPACITY)) as kernel:
        ref = await kernel.spawn(lambda: _Counter(tally), name="counter")
        tell, msg = ref.tell, TICK
        start = time.perf_counter()
        for _ in range(n):
            await tell(msg)
        await tally.done.wait()
        elapsed = time.perf_counter() - start
    return n / elapsed


async def kernel_tell_nowait(n: int) -> float:
    """``tell_nowait`` a mailbox-full batch, let the actor drain it, repeat; msgs/s."""
    tally = Tally(n)
    async with Kernel(KernelConfig(mailbox_capacity=CAPACITY)) as kernel:
        ref = await kernel.spawn(lambda: _Counter(tally), name="counter")
        put, msg = ref.tell_nowait, TICK
        start = time.perf_counter()
        for sent in range(CAPACITY, n + 1, CAPACITY):
            tally.rearm(sent)
            for _ in range(CAPACITY):
                put(msg)
            await tally.done.wait()
        elapsed = time.perf_counter() - start
    return n / elapsed


# -- ask --------------------------------------------------------------------------------


async def kernel_ask(n: int, *, timeout: float | None = 5.0) -> float:
    """Sequential ``await ref.ask`` to an echo actor; round trips/s."""
    async with Kernel(KernelConfig(mailbox_capacity=CAPACITY)) as kernel:
        ref = await kernel.spawn(_Echo, name="echo")
        ask, msg = ref.ask, TICK
        start = time.perf_counter()
        for _ in range(n):
            await ask(msg, timeout=timeout)
        elapsed = time.perf_counter() - start
    return n / elapsed


async def queue_future_ask(n: int) -> float:
    """Baseline: a request queue and one future per request, answered by a server task."""
    queue: asyncio.Queue[tuple[Tick, asyncio.Future[Tick]]] = asyncio.Queue(CAPACITY)

    async def serve() -> None:
        get = queue.get
        while True:
            msg, reply = await get()
            if not reply.done():
                reply.set_result(msg)

    async with anyio.create_task_group() as tg:
        tg.start_soon(serve)
        loop = asyncio.get_running_loop()
        put, msg = queue.put, TICK
        start = time.perf_counter()
        for _ in range(n):
            reply: asyncio.Future[Tick] = loop.create_future()
            await put((msg, reply))
            await reply
        elapsed = time.perf_counter() - start
        tg.cancel_scope.cancel()
    return n / elapsed


# -- Pykka (threads) --------------------------------------------------------------------


def load_pykka() -> Any | None:
    """Return the pykka module, or None when it is not installed (the ``bench`` extra)."""
    try:
        return importlib.import_module("pykka")
    except ImportError:
        return None


def pykka_tell(pykka: Any, n: int) -> float:
    """A ThreadingActor counting ``tell``s from the main thread; msgs/s."""
    done = threading.Event()

    class Counter(pykka.ThreadingActor):  # type: ignore[misc]
        count = 0

        def on_receive(self, message: object) -> None:
            self.count += 1
            if self.count == n:
                done.set()

    ref = Counter.start()
    try:
        tell, msg = ref.tell, TICK
        start = time.perf_counter()
        for _ in range(n):
            tell(msg)
        done.wait()
        return n / (time.perf_counter() - start)
    finally:
        ref.stop()


def pykka_ask(pykka: Any, n: int) -> float:
    """Sequential blocking ``ask`` to a ThreadingActor echo; round trips/s."""

    class Echo(pykka.ThreadingActor):  # type: ignore[misc]
        def on_receive(self, message: object) -> object:
            return message

    ref = Echo.start()
    try:
        ask, msg = ref.ask, TICK
        start = time.perf_counter()
        for _ in range(n):
            ask(msg)
        return n / (time.perf_counter() - start)
    finally:
        ref.stop()


# -- spawn, memory, restarts ------------------------------------------------------------


async def spawn_and_stop(n: int) -> float:
    """Spawn ``n`` idle actors under the root, then stop them all (ordered shutdown)."""
    start = time.perf_counter()
    async with Kernel() as kernel:
        for i in range(n):
            await kernel.spawn(_Idle, name=f"idle-{i}")
    return n / (time.perf_counter() - start)


async def idle_memory(n: int) -> float:
    """Bytes allocated (tracemalloc) per idle actor while ``n`` of them are held."""
    async with Kernel() as kernel:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for i in range(n):
                await kernel.spawn(_Idle, name=f"idle-{i}")
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    return (after - before) / n


async def restart_latencies(n: int) -> tuple[list[float], float]:
    """Crash an actor ``n`` times; return (crash -> next message handled, in s) and restarts/s."""
    handled: list[float] = []
    wake = [asyncio.Event()]
    spec = SupervisorSpec(
        intensity=n + 1,
        period=3600.0,
        children=(ChildSpec("crasher", lambda: _Crasher(handled, wake)),),
    )
    latencies: list[float] = []
    async with Kernel() as kernel:
        await kernel.spawn_supervisor("crashers", spec)
        ref: ActorRef[Tick | Crash] = kernel.lookup("crasher")
        start = time.perf_counter()
        for _ in range(n):
            wake[0] = asyncio.Event()
            sent = time.perf_counter()
            await ref.tell(CRASH)
            await ref.tell(TICK)
            await wake[0].wait()
            latencies.append(handled[-1] - sent)
        elapsed = time.perf_counter() - start
    return latencies, n / elapsed


# -- driver -----------------------------------------------------------------------------


def message_figures(runner: asyncio.Runner, sizes: Sizes, suffix: str) -> list[Figure]:
    """The tell, tell_nowait and ask figures on one event loop (``suffix`` names the loop)."""

    def on_loop(factory: Callable[[], Coroutine[Any, Any, float]]) -> Callable[[], float]:
        return lambda: runner.run(factory())

    note(f"tell, tell_nowait, ask{suffix}")
    tell, queue = pair(
        sizes.runs,
        on_loop(lambda: kernel_tell(sizes.tells)),
        on_loop(lambda: queue_put_get(sizes.tells, CAPACITY, TICK)),
    )
    nowait, queue_nowait = pair(
        sizes.runs,
        on_loop(lambda: kernel_tell_nowait(sizes.tells)),
        on_loop(lambda: queue_put_nowait(sizes.tells, CAPACITY, TICK)),
    )
    ask, queue_ask = pair(
        sizes.runs,
        on_loop(lambda: kernel_ask(sizes.asks)),
        on_loop(lambda: queue_future_ask(sizes.asks)),
    )
    ask_bare = best_of(sizes.runs, on_loop(lambda: kernel_ask(sizes.asks, timeout=None)))
    loop_note = " (uvloop)" if suffix else ""
    return [
        Figure(
            f"tell_throughput{suffix}",
            "msgs/s",
            tell,
            f"asyncio.Queue producer/consumer{loop_note}",
            queue,
            target_ratio=0.75,
        ),
        Figure(
            f"tell_nowait_throughput{suffix}",
            "msgs/s",
            nowait,
            f"asyncio.Queue put_nowait/get{loop_note}",
            queue_nowait,
            target_ratio=0.75,
        ),
        Figure(
            f"ask_roundtrips{suffix}",
            "round trips/s",
            ask,
            f"asyncio.Queue + Future{loop_note}",
            queue_ask,
            target_ratio=0.6,
        ),
        Figure(
            f"ask_roundtrips_no_timeout{suffix}",
            "round trips/s",
            ask_bare,
            f"asyncio.Queue + Future{loop_note}",
            queue_ask,
            target_ratio=0.6,
        ),
    ]


def run(mode: Mode) -> list[Figure]:
    """Measure everything for ``mode`` and return the figures."""
    sizes = QUICK if mode == "quick" else FULL
    figures: list[Figure] = []
    with asyncio.Runner() as runner:
        figures += message_figures(runner, sizes, "")

        note("strict_messages")
        strict, loose = pair(
            sizes.runs,
            lambda: runner.run(kernel_tell(sizes.tells, strict=True)),
            lambda: runner.run(kernel_tell(sizes.tells)),
        )
        figures.append(
            Figure(
                "tell_throughput_strict",
                "msgs/s",
                strict,
                "tell_throughput (strict_messages off)",
                loose,
                target_ratio=0.3,
            )
        )

        pykka = load_pykka()
        if pykka is None:
            print("note: pykka is not installed (pip install -e '.[bench]'); no Pykka figures")
        else:
            note("pykka (interleaved with the kernel's own runs)")
            tell_value, p_tell = pair(
                sizes.runs,
                lambda: runner.run(kernel_tell(sizes.tells)),
                lambda: pykka_tell(pykka, sizes.pykka_tells),
            )
            ask_value, p_ask = pair(
                sizes.runs,
                lambda: runner.run(kernel_ask(sizes.asks)),
                lambda: pykka_ask(pykka, sizes.pykka_asks),
            )
            figures.append(
                Figure(
                    "tell_throughput", "msgs/s", tell_value, "Pykka tell", p_tell, target_ratio=6.0
                )
            )
            figures.append(
                Figure(
                    "ask_roundtrips",
                    "round trips/s",
                    ask_value,
                    "Pykka ask",
                    p_ask,
                    target_ratio=8.0,
                )
            )

        note("spawn")
        spawn = best_of(sizes.runs, lambda: runner.run(spawn_and_stop(sizes.spawns)))
        figures.append(Figure("spawn_rate", "actors/s", spawn))
        note(f"memory of {sizes.idle:,} idle actors")
        memory = runner.run(idle_memory(sizes.idle))
        figures.append(
            Figure(
                "memory_per_idle_actor",
                "bytes",
                round(memory),
                target=5120,
                target_direction="max",
            )
        )
        note("restarts")
        latencies, restarts = runner.run(restart_latencies(sizes.restarts))
        p50 = statistics.median(latencies) * 1e6
        figures.append(Figure("restart_latency_p50", "us", round(p50, 1)))
        figures.append(Figure("restarts_per_s", "restarts/s", restarts))

    try:
        uvloop = importlib.import_module("uvloop")
    except ImportError:
        print("note: uvloop is not installed (pip install -e '.[fast]'); no uvloop figures")
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            figures += message_figures(runner, sizes, "_uvloop")
    return figures


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m bench.kernel --quick|--full``."""
    main_for("kernel", __doc__ or "kernel benchmark", run, argv)


if __name__ == "__main__":
    main()
