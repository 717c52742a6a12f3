"""A small supervised demo: ``python -m examples.demo`` (what ``make run`` starts for now).

The tree::

    root (one_for_one)
    └── pipeline (rest_for_one)
        ├── stats     counts what happens and answers asks
        ├── worker    handles jobs; fails on purpose on every Nth job
        └── producer  ticks on an interval and sends the worker a job per tick

When the worker crashes, ``rest_for_one`` restarts it and every child started after it (the
producer), in start order; ``stats`` keeps running, so the counts survive. Every second the
demo asks ``stats`` for a snapshot and prints it. Ctrl-C or SIGTERM stops the tree in reverse
start order (producer, worker, stats), prints a summary and exits with status 0;
``--seconds N`` stops the same way after N seconds.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from actorgrid.kernel import (
    Actor,
    ChildSpec,
    Kernel,
    Message,
    RestartLimitExceeded,
    SupervisorSpec,
    configure_logging,
)

if TYPE_CHECKING:
    from collections.abc import MutableMapping, Sequence

    from anyio.abc import TaskStatus

    from actorgrid.kernel import ActorRef

__all__ = ("Options", "main", "parse_options", "run")

log = structlog.get_logger("actorgrid.demo")


# -- messages ---------------------------------------------------------------------------


class Tick(Message, frozen=True):
    """The producer's timer fired."""


class Job(Message, frozen=True):
    """Work for the worker."""

    number: int


class Produced(Message, frozen=True):
    """The producer sent job ``number``."""

    number: int


class Processed(Message, frozen=True):
    """The worker finished job ``number``."""

    number: int


class Crashed(Message, frozen=True):
    """The worker crashed on job ``number``."""

    number: int


class GetStats(Message, frozen=True):
    """Ask ``stats`` for a :class:`StatsSnapshot`."""


class StatsSnapshot(Message, frozen=True):
    """What ``stats`` has counted so far."""

    produced: int
    processed: int
    crashed: int


StatsMessage = Produced | Processed | Crashed | GetStats


class DeliberateCrash(RuntimeError):
    """Raised by the worker on purpose, to show a supervised restart."""

    def __init__(self, number: int) -> None:
        self.number = number
        super().__init__(f"job {number} failed on purpose")


# -- actors -----------------------------------------------------------------------------


@dataclass
class Journal:
    """What the demo records outside the actors: the order in which they stopped at the end."""

    stopping: bool = False
    stop_order: list[str] = field(default_factory=list)

    def stopped(self, name: str) -> None:
        """Note that ``name`` stopped (only counted once the demo is shutting down)."""
        if self.stopping:
            self.stop_order.append(name)


class Stats(Actor[StatsMessage]):
    """Counts jobs produced, processed and crashed; answers :class:`GetStats`."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.produced = self.processed = self.crashed = 0

    async def on_start(self) -> None:
        log.info("actor_started", actor=self.actor_name)

    async def receive(self, message: StatsMessage) -> StatsSnapshot | None:
        match message:
            case Produced():
                self.produced += 1
            case Processed():
                self.processed += 1
            case Crashed():
                self.crashed += 1
            case GetStats():
                return StatsSnapshot(self.produced, self.processed, self.crashed)
        return None

    async def on_stop(self) -> None:
        log.info("actor_stopped", actor=self.actor_name)
        self.journal.stopped(self.actor_name)


class Worker(Actor[Job]):
    """Handles jobs; raises :class:`DeliberateCrash` on every ``crash_every``-th job."""

    def __init__(self, journal: Journal, crash_every: int) -> None:
        self.journal = journal
        self.crash_every = crash_every

    async def on_start(self) -> None:
        self.stats: ActorRef[StatsMessage] = self.actor_kernel.lookup("stats")
        log.info("actor_started", actor=self.actor_name)

    async def receive(self, message: Job) -> None:
        if message.number % self.crash_every == 0:
            raise DeliberateCrash(message.number)
        await self.stats.tell(Processed(message.number))

    async def on_failure(self, exc: Exception, message: object | None) -> None:
        if isinstance(message, Job):
            await self.stats.tell(Crashed(message.number))

    async def on_stop(self) -> None:
        log.info("actor_stopped", actor=self.actor_name)
        self.journal.stopped(self.actor_name)


class Producer(Actor[Tick]):
    """Sends the worker one job per tick; a timer task ticks it every ``interval`` seconds."""

    def __init__(self, journal: Journal, interval: float) -> None:
        self.journal = journal
        self.interval = interval
        self.next_number = 1

    async def on_start(self) -> None:
        kernel = self.actor_kernel
        self.worker: ActorRef[Job] = kernel.lookup("worker")
        self.stats: ActorRef[StatsMessage] = kernel.lookup("stats")
        # Job numbers go on across restarts: stats outlives this incarnation.
        snapshot: StatsSnapshot = await self.stats.ask(GetStats())
        self.next_number = snapshot.produced + 1
        self.actor_start_task(self._tick, name="producer-timer")
        log.info("actor_started", actor=self.actor_name, next_job=self.next_number)

    async def _tick(self) -> None:
        while True:
            await self.actor_clock.sleep(self.interval)
            await self.actor_ref.tell(Tick())

    async def receive(self, message: Tick) -> None:
        number = self.next_number
        self.next_number += 1
        await self.worker.tell(Job(number))
        await self.stats.tell(Produced(number))

    async def on_stop(self) -> None:
        log.info("actor_stopped", actor=self.actor_name)
        self.journal.stopped(self.actor_name)


# -- the demo ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """Command-line options of the demo."""

    seconds: float | None = None
    """Stop by itself after this many seconds (None: run until signalled)."""
    interval: float = 0.2
    """Seconds between the producer's ticks."""
    crash_every: int = 12
    """The worker fails on every job whose number is a multiple of this."""
    log_level: str = "info"
    json: bool = False


def pipeline_spec(journal: Journal, options: Options) -> SupervisorSpec:
    """The ``pipeline`` supervisor: stats, worker, producer under ``rest_for_one``."""
    return SupervisorSpec(
        strategy="rest_for_one",
        intensity=10,
        period=10.0,
        children=(
            ChildSpec("stats", lambda: Stats(journal)),
            ChildSpec("worker", lambda: Worker(journal, options.crash_every)),
            ChildSpec("producer", lambda: Producer(journal, options.interval)),
        ),
    )


async def _watch_signals(stop: anyio.Event, *, task_status: TaskStatus[None]) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            log.info("signal_received", signal=signal.Signals(signum).name)
            stop.set()
            return


async def _stop_after(seconds: float, stop: anyio.Event) -> None:
    await anyio.sleep(seconds)
    log.info("time_is_up", seconds=seconds)
    stop.set()


async def _supervise(
    kernel: Kernel, journal: Journal, options: Options, stop: anyio.Event
) -> tuple[StatsSnapshot, int]:
    pipeline = await kernel.spawn_supervisor("pipeline", pipeline_spec(journal, options))
    stats: ActorRef[StatsMessage] = kernel.lookup("stats")
    started = kernel.clock.monotonic()
    log.info(
        "demo_started",
        tree="root > pipeline(rest_for_one) > stats, worker, producer",
        interval=options.interval,
        crash_every=options.crash_every,
        stop="Ctrl-C or SIGTERM" if options.seconds is None else f"after {options.seconds} s",
    )
    while not stop.is_set():
        with anyio.move_on_after(1.0):
            await stop.wait()
        snapshot: StatsSnapshot = await stats.ask(GetStats())
        sup = pipeline.statistics()
        log.info(
            "status",
            seconds=round(kernel.clock.monotonic() - started, 1),
            produced=snapshot.produced,
            processed=snapshot.processed,
            crashes=snapshot.crashed,
            restarts=sup.total_restarts,
            restarts_in_window=sup.restarts_in_window,
        )
    final: StatsSnapshot = await stats.ask(GetStats())
    log.info("stopping", order="producer, worker, stats (reverse start order)")
    journal.stopping = True
    return final, pipeline.statistics().total_restarts


async def run(options: Options) -> int:
    """Run the demo until signalled (or for ``options.seconds``); return the exit status."""
    journal = Journal()
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        await tg.start(_watch_signals, stop)
        if options.seconds is not None:
            tg.start_soon(_stop_after, options.seconds, stop)
        try:
            async with Kernel() as kernel:
                final, restarts = await _supervise(kernel, journal, options, stop)
        except RestartLimitExceeded as exc:
            log.error("demo_failed", reason=str(exc))
            tg.cancel_scope.cancel()
            return 1
        tg.cancel_scope.cancel()
    log.info(
        "summary",
        produced=final.produced,
        processed=final.processed,
        crashes=final.crashed,
        restarts=restarts,
        stop_order=",".join(journal.stop_order),
        shutdown="clean",
    )
    return 0


def _positive(kind: type[float] | type[int], minimum: float) -> Any:
    def parse(text: str) -> float:
        value = kind(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        return value

    return parse


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line (see ``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo", description="actorgrid's supervised demo"
    )
    parser.add_argument(
        "--seconds", type=_positive(float, 0.01), help="stop by itself after N seconds"
    )
    parser.add_argument(
        "--interval", type=_positive(float, 0.001), default=0.2, help="seconds between ticks"
    )
    parser.add_argument(
        "--crash-every", type=_positive(int, 2), default=12, help="fail on every Nth job"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--json", action="store_true", help="JSON lines instead of console text")
    args = parser.parse_args(argv)
    return Options(args.seconds, args.interval, args.crash_every, args.log_level, args.json)


def shorten_deliberate_crashes(
    logger: object, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: a crash on purpose is logged as one line, not a traceback."""
    exc = event.get("exc_info")
    if isinstance(exc, DeliberateCrash):
        del event["exc_info"]
        event["error"] = str(exc)
        event["on_purpose"] = True
    return event


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: configure logging, run the demo on asyncio (uvloop when installed)."""
    options = parse_options(argv)
    configure_logging(options.log_level, json=options.json, stream=sys.stdout)
    processors = structlog.get_config()["processors"]
    structlog.configure(processors=[shorten_deliberate_crashes, *processors])
    use_uvloop = importlib.util.find_spec("uvloop") is not None
    status: int = anyio.run(run, options, backend_options={"use_uvloop": use_uvloop})
    return status


if __name__ == "__main__":
    sys.exit(main())
