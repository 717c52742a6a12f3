"""The runtime demo: ``python -m examples.demo`` (what ``make run`` starts).

It opens an actorgrid :class:`~actorgrid.actors.Runtime` on a SQLite file (default
``./actorgrid.db``, the runtime's own default), installs the order pipeline of
:mod:`examples.app` and publishes an order every ``--interval`` seconds. It prints a status
line every second and what is worth seeing as it happens: retries with their phase, early
retries, orders paid after a retry, dead letters with their reason.

Ctrl-C or SIGTERM (or ``--seconds N``) stops intake, lets the handlers in flight finish,
prints a summary and exits with status 0. Messages waiting for a retry stay in the database:
the next run on the same file says how many it found and carries on with them. If the
runtime fails instead (its root supervisor exceeded its restart limit), the demo logs
``demo_failed`` and exits with status 1.
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import structlog

from actorgrid import Runtime
from actorgrid.kernel import RestartLimitExceeded, configure_logging
from actorgrid.storage import MESSAGE_STATES

from .app import OrderProducer, OrderService, add_runbooks, demo_config

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anyio.abc import TaskStatus

__all__ = ("DatabaseState", "Options", "inspect_database", "main", "parse_options", "run")

log = structlog.get_logger("actorgrid.demo")

DEFAULT_DB = Path("./actorgrid.db")


@dataclass(frozen=True)
class Options:
    """Command-line options of the demo."""

    seconds: float | None = None
    """Stop by itself after this many seconds (None: run until signalled)."""
    db: Path = DEFAULT_DB
    """The SQLite file (created when missing; a second run continues where one stopped)."""
    interval: float = 0.2
    """Seconds between two orders."""
    retry_wait: float = 1.5
    """The base retry window in seconds (the early window is 40% of it)."""
    log_level: str = "info"
    json: bool = False


# -- the database before and after ------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseState:
    """What a demo database holds (read with plain ``sqlite3``, outside the runtime)."""

    messages: dict[str, int] = field(default_factory=dict)
    """Rows of the ``messages`` table by state."""
    dead_letters: int = 0
    runbooks: int = 0
    """Reference chunks added by an earlier run."""
    last_order: int = 0
    """The highest order sequence number seen (new orders continue after it)."""

    @property
    def pending(self) -> int:
        """Messages the next runtime picks up again: ready, inflight and scheduled rows."""
        return sum(self.messages.get(s, 0) for s in ("ready", "inflight", "scheduled"))


def _scalar(db: sqlite3.Connection, sql: str) -> int:
    try:
        row = db.execute(sql).fetchone()
    except sqlite3.OperationalError:  # a table that an older schema did not have
        return 0
    return int(row[0] or 0) if row is not None else 0


def inspect_database(path: Path) -> DatabaseState | None:
    """Count what ``path`` holds; ``None`` when there is no demo database there yet."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(path)  # read only; closing it cleans up the WAL files
    except sqlite3.Error:
        return None
    try:
        try:
            rows = db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall()
        except sqlite3.DatabaseError:
            return None
        messages = dict.fromkeys(MESSAGE_STATES, 0) | {s: int(n) for s, n in rows}
        number = "CAST(SUBSTR(target_id, 3) AS INTEGER)"
        return DatabaseState(
            messages=messages,
            dead_letters=_scalar(db, "SELECT COUNT(*) FROM dead_letters"),
            runbooks=_scalar(
                db, "SELECT COUNT(*) FROM reference_chunks WHERE source LIKE 'runbook/%'"
            ),
            last_order=max(
                _scalar(db, f"SELECT MAX({number}) FROM messages WHERE target_type = 'order'"),
                _scalar(db, f"SELECT MAX({number}) FROM retry_records WHERE target_type = 'order'"),
            ),
        )
    finally:
        db.close()


# -- stopping ---------------------------------------------------------------------------------


async def _watch_signals(stop: anyio.Event, *, task_status: TaskStatus[None]) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        async for signum in signals:
            name = signal.Signals(signum).name
            if stop.is_set():
                log.info("still_stopping", signal=name, note="handlers in flight are finishing")
            else:
                log.info("signal_received", signal=name)
                stop.set()


async def _stop_after(seconds: float, stop: anyio.Event) -> None:
    await anyio.sleep(seconds)
    if not stop.is_set():
        log.info("time_is_up", seconds=seconds)
        stop.set()


# -- running ----------------------------------------------------------------------------------


@dataclass
class _Watch:
    """The demo's view of the runtime while it runs."""

    rt: Runtime
    service: OrderService
    producer: OrderProducer
    since: float
    started: float
    seen: set[str] = field(default_factory=set)

    async def report_dead_letters(self) -> int:
        """Print the dead letters filed since the start that were not printed yet."""
        page = await self.rt.dead_letters.list(since=self.since, limit=100)
        for entry in reversed(page.entries):
            if entry.id in self.seen:
                continue
            self.seen.add(entry.id)
            log.warning(
                "dead_letter",
                order=entry.target_id,
                reason=entry.reason,
                attempts=entry.attempts,
                error=f"{entry.error_type}: {entry.error_message}",
            )
        return await self.rt.dead_letters.count()

    async def status(self, event: str = "status") -> dict[str, Any]:
        """Print one status line; return its fields."""
        dead_letters = await self.report_dead_letters()
        stats = self.rt.statistics()
        fields: dict[str, Any] = {
            "seconds": round(self.rt_clock() - self.started, 1),
            "orders": self.producer.published,
            "paid": self.service.paid,
            "notified": self.service.notified,
            "published": stats.published,
            "acked": stats.acked,
            "failed": stats.failed,
            "scheduled": stats.scheduled,
            "dead": stats.dead,
            "dead_letters": dead_letters,
        }
        log.info(event, **fields)
        return fields

    def rt_clock(self) -> float:
        assert self.rt.kernel is not None
        return self.rt.kernel.clock.monotonic()


async def _report_patterns(rt: Runtime) -> None:
    """Print the pattern engine's recurring failures, when this runtime has one."""
    recurring = getattr(rt, "recurring_patterns", None)
    if recurring is None:
        return
    try:
        patterns = await recurring()
    except Exception as exc:  # optional: a runtime without the pattern engine says so
        log.info("recurring_failures_unavailable", error=repr(exc))
        return
    for pattern in patterns[:3]:
        log.info(
            "recurring_failure",
            failures=pattern.count,
            targets=",".join(pattern.targets[:4]) + (",..." if len(pattern.targets) > 4 else ""),
            outcomes=",".join(f"{k}={v}" for k, v in sorted(pattern.outcomes.items())),
        )


async def _serve(
    options: Options, before: DatabaseState | None, stop: anyio.Event
) -> dict[str, Any]:
    service = OrderService()
    producer = OrderProducer(
        next_sequence=(before.last_order if before else 0) + 1, interval=options.interval
    )
    config = demo_config(options.db, base_wait=options.retry_wait)
    async with Runtime(config) as rt:
        assert rt.kernel is not None
        clock = rt.kernel.clock
        watch = _Watch(rt, service, producer, since=clock.now(), started=clock.monotonic())
        runbooks: int | None = before.runbooks if before and before.runbooks else None
        if runbooks is None:
            runbooks = await add_runbooks(rt)
        log.info(
            "demo_started",
            database=str(options.db),
            topics="orders (durable, 4 workers), notifications (transient)",
            order_every=f"{options.interval:g} s",
            retry_windows=(
                f"base {options.retry_wait:g} s, early {options.retry_wait * 0.4:g} s "
                "(demo setting; the defaults are 30 and 20 minutes)"
            ),
            reference_context=f"{runbooks} runbooks" if runbooks else "off (no pattern engine)",
            stop="Ctrl-C or SIGTERM" if options.seconds is None else f"after {options.seconds:g} s",
        )
        await service.install(rt)
        async with anyio.create_task_group() as tg:
            tg.start_soon(producer.run, rt, stop)
            while not stop.is_set():
                with anyio.move_on_after(1.0):
                    await stop.wait()
                await watch.status()
        stats = rt.statistics()
        log.info(
            "stopping",
            intake="stopped",
            in_flight=stats.queued + stats.running,
            note="handlers in flight finish; scheduled retries stay in the database",
        )
        await rt.drain(config.broker.drain_timeout)
        await rt.flush()
        final = await watch.status("final")
        await _report_patterns(rt)
        final["paid_after_retry"] = service.paid_after_retry
        final["failures"] = ",".join(f"{k}={v}" for k, v in sorted(service.failures.items()))
    return final


async def run(options: Options) -> int:
    """Run the demo until signalled (or for ``options.seconds``); return the exit status."""
    before = inspect_database(options.db)
    if before is None:
        log.info("database_new", path=str(options.db))
    else:
        log.info(
            "database_found",
            path=str(options.db),
            **before.messages,
            dead_letters=before.dead_letters,
            recovering=before.pending,
            next_order=f"o-{before.last_order + 1}",
        )
    stop = anyio.Event()
    failure: RestartLimitExceeded | None = None
    async with anyio.create_task_group() as tg:
        await tg.start(_watch_signals, stop)
        if options.seconds is not None:
            tg.start_soon(_stop_after, options.seconds, stop)
        try:
            final = await _serve(options, before, stop)
        except RestartLimitExceeded as exc:
            failure = exc
        tg.cancel_scope.cancel()
    if failure is not None:
        log.error(
            "demo_failed",
            error=str(failure),
            supervisor=failure.supervisor,
            child=failure.child,
            note="the runtime stopped: its root supervisor exceeded its restart limit",
        )
        return 1
    after = inspect_database(options.db) or DatabaseState()
    log.info(
        "summary",
        **final,
        database=str(options.db),
        rows=",".join(f"{s}={n}" for s, n in after.messages.items()),
        next_run_resumes=after.pending,
        shutdown="clean",
    )
    return 0


# -- the command line --------------------------------------------------------------------------


def _number(kind: type[float], minimum: float) -> Any:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum:g}, got {text}")
        return value

    return parse


def _database(text: str) -> Path:
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
    if not path.parent.is_dir():
        raise argparse.ArgumentTypeError(f"folder {path.parent} does not exist")
    return path


def parse_options(argv: Sequence[str] | None = None) -> Options:
    """Parse the command line (see ``--help``); a bad option exits with status 2."""
    parser = argparse.ArgumentParser(
        prog="python -m examples.demo",
        description="The actorgrid runtime with an order-processing example application.",
    )
    parser.add_argument("--seconds", type=_number(float, 0.01), help="stop after N seconds")
    parser.add_argument(
        "--db",
        type=_database,
        default=DEFAULT_DB,
        help="SQLite file (default: ./actorgrid.db; a second run continues where one stopped)",
    )
    parser.add_argument(
        "--interval", type=_number(float, 0.001), default=0.2, help="seconds between orders"
    )
    parser.add_argument(
        "--retry-wait",
        type=_number(float, 0.01),
        default=1.5,
        help="base retry window in seconds (early window: 40%% of it; default 1.5)",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    parser.add_argument("--json", action="store_true", help="JSON lines instead of console text")
    args = parser.parse_args(argv)
    return Options(
        seconds=args.seconds,
        db=args.db,
        interval=args.interval,
        retry_wait=args.retry_wait,
        log_level=args.log_level,
        json=args.json,
    )


def _keep_field_order() -> None:
    """Print console fields in the order the demo gives them (status lines read left to right)."""
    processors = list(structlog.get_config()["processors"])
    if processors and isinstance(processors[-1], structlog.dev.ConsoleRenderer):
        processors[-1] = structlog.dev.ConsoleRenderer(colors=sys.stdout.isatty(), sort_keys=False)
        structlog.configure(processors=processors)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: configure logging, run the demo on asyncio (uvloop when installed)."""
    options = parse_options(argv)
    configure_logging(options.log_level, json=options.json, stream=sys.stdout)
    _keep_field_order()
    use_uvloop = importlib.util.find_spec("uvloop") is not None
    status: int = anyio.run(run, options, backend_options={"use_uvloop": use_uvloop})
    return status


if __name__ == "__main__":
    sys.exit(main())
