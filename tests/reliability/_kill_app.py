"""The child process of the kill/restart reliability test: a durable stream with failing handlers.

Run as ``python -m tests.reliability._kill_app --db FILE --acks FILE --attempts FILE
--ready FILE --run N [--finish | --limit N]``, or as a fork server with ``--serve`` (see
:func:`serve`): it imports the runtime once and forks a fresh process per run.

Stream mode starts a :class:`~actorgrid.actors.Runtime` on the SQLite file, subscribes a
handler that fails at random, creates the ``--ready`` file and publishes durable messages
(single publishes and batches) until it is killed. After each publish returns (the rows are
committed: the publish is acknowledged) the message ids are appended to the ``--acks`` file,
which is then fsynced, so the parent knows exactly which publishes were acknowledged.

``--limit N`` publishes N messages, then leaves the runtime cleanly (a graceful stop).
Finish mode publishes nothing: it waits until every row of ``messages`` is ``done`` or
``dead``, prints a JSON summary line and leaves the runtime cleanly (exit 0), or exits 3 if
that takes longer than ``--deadline`` seconds.

The handler appends ``<message id> <attempt> <run> ok|fail`` to the ``--attempts`` file (one
``write`` per line, so a SIGKILL cannot tear a line) before it returns or raises, so every
attempt whose outcome may have been committed is in that file. Messages whose ``doomed``
flag is set always fail and end in the dead-letter queue; the others fail with probability
``FAIL_RATE``. Messages with ``early`` set ask for the explicit early retry before raising.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
import traceback
import zlib
from typing import TYPE_CHECKING, NoReturn

import anyio
import msgspec
from sqlalchemy import text

from actorgrid import (
    BrokerSettings,
    GateSettings,
    RetryPolicyConfig,
    Runtime,
    RuntimeConfig,
    StorageSettings,
)
from actorgrid.kernel import configure_logging

if TYPE_CHECKING:
    from collections.abc import Sequence

    from actorgrid import DeliveryContext

TOPIC = "jobs"
FAIL_RATE = 0.5
"""Chance that an attempt of a message that is not doomed fails."""
MAX_ATTEMPTS = 6
"""Attempts until a message is dead-lettered: 1 + max_retries (5) with base_retries = 2."""
RETRY = RetryPolicyConfig(
    base_wait_minutes=0.0005,  # 30 ms
    early_wait_minutes=0.0003,  # 18 ms
    base_retries=2,
    max_retries=5,
)
FINAL_STATES = ("done", "dead")


class Job(msgspec.Struct, frozen=True):
    """The payload of one message; its behaviour in the handler follows from its fields."""

    run: int
    n: int
    doomed: bool
    """Every attempt fails: the message must end in the dead-letter queue."""
    early: bool
    """A failing attempt asks for the explicit early retry first."""


class HandlerFailure(Exception):
    """Raised by the handler to nack an attempt."""

    def __init__(self, job: Job, attempt: int) -> None:
        self.job = job
        self.attempt = attempt
        super().__init__(f"job {job.run}:{job.n} failed attempt {attempt}")


def make_job(run: int, n: int) -> Job:
    """Return the ``n``-th job of run ``run``; its flags are a function of (run, n) alone."""
    h = zlib.crc32(f"{run}:{n}".encode())
    return Job(run=run, n=n, doomed=h % 10 == 0, early=(h >> 4) % 3 != 0)


class App:
    """The child's state: its files, its random source and the runtime."""

    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.rng = random.Random(options.run)
        self.attempts_fd = os.open(options.attempts, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.acks_fd = os.open(options.acks, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self.published = 0

    def config(self) -> RuntimeConfig:
        """Return the runtime settings: the SQLite file, tiny real-time retry windows."""
        return RuntimeConfig(
            storage=StorageSettings(url=f"sqlite+aiosqlite:///{self.options.db}"),
            retry=RETRY,
            # Odd runs write retry records behind every 5 ms, even runs at the default 50 ms:
            # each interval opens other gaps between a record and its message's state.
            gate=GateSettings(flush_interval=0.005 if self.options.run % 2 else 0.05),
            broker=BrokerSettings(drain_timeout=5.0),
        )

    async def handle(self, job: Job, ctx: DeliveryContext) -> None:
        """Succeed or fail (doomed jobs always fail); log the attempt before either."""
        await anyio.sleep(self.rng.random() * 0.003)
        fail = job.doomed or self.rng.random() < FAIL_RATE
        line = f"{ctx.message_id} {ctx.attempt} {self.options.run} {'fail' if fail else 'ok'}\n"
        os.write(self.attempts_fd, line.encode())
        if fail:
            if job.early:
                ctx.request_early_retry()
            raise HandlerFailure(job, ctx.attempt)

    def acknowledge(self, ids: Sequence[str]) -> None:
        """Record acknowledged ids durably before anything else is published."""
        os.write(self.acks_fd, "".join(f"{i}\n" for i in ids).encode())
        os.fsync(self.acks_fd)
        self.published += len(ids)

    async def stream(self, rt: Runtime) -> None:
        """Publish singles and batches until killed (or ``--limit`` messages)."""
        run, rng, n = self.options.run, self.rng, 0
        while n < self.options.limit:
            if rng.random() < 0.3:
                size = rng.randint(2, 8)
                jobs = [make_job(run, n + i) for i in range(size)]
                n += size
                self.acknowledge(await rt.publish_batch(TOPIC, jobs))
            else:
                job = make_job(run, n)
                n += 1
                self.acknowledge([await rt.publish(TOPIC, job)])
            if rng.random() < 0.2:
                await anyio.sleep(rng.random() * 0.005)

    async def finish(self, rt: Runtime) -> int:
        """Wait until every row is final; return the exit code (0, or 3 on the deadline)."""
        assert rt.engine is not None
        counts: dict[str, int] = {}
        with anyio.move_on_after(self.options.deadline):
            while True:
                async with rt.engine.connect() as conn:
                    rows = await conn.execute(
                        text("SELECT state, count(*) FROM messages GROUP BY state")
                    )
                    counts = {str(state): int(count) for state, count in rows}
                if all(state in FINAL_STATES for state in counts):
                    await rt.flush()
                    self.report(rt, counts)
                    return 0
                await anyio.sleep(0.05)
        print(json.dumps({"event": "finish_deadline", "states": counts}), flush=True)
        return 3

    def report(self, rt: Runtime, counts: dict[str, int]) -> None:
        """Print the finish run's summary as one JSON line."""
        stats = rt.statistics()
        summary = {
            "event": "finished",
            "states": counts,
            "acked": stats.acked,
            "failed": stats.failed,
            "dead": stats.dead,
        }
        print(json.dumps(summary), flush=True)

    async def main(self) -> int:
        """Run the runtime in stream or finish mode; return the exit code."""
        async with Runtime(self.config()) as rt:
            rt.declare_topic(TOPIC, payload_type=Job)
            await rt.subscribe(TOPIC, self.handle, concurrency=8, max_in_flight=200)
            await anyio.Path(self.options.ready).write_text(f"{os.getpid()}\n")
            if self.options.finish:
                return await self.finish(rt)
            await self.stream(rt)
        return 0


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(prog="tests.reliability._kill_app")
    parser.add_argument("--db", required=True, help="the SQLite file")
    parser.add_argument("--acks", required=True, help="acknowledged message ids are appended")
    parser.add_argument("--attempts", required=True, help="handled attempts are appended")
    parser.add_argument("--ready", required=True, help="created once the subscription runs")
    parser.add_argument("--run", type=int, required=True, help="run number (seeds, payloads)")
    parser.add_argument("--finish", action="store_true", help="drain everything, then exit")
    parser.add_argument("--limit", type=int, default=1_000_000, help="most messages to publish")
    parser.add_argument("--deadline", type=float, default=60.0, help="finish mode's time limit")
    return parser.parse_args(argv)


def run(argv: Sequence[str]) -> int:
    """Run the app with ``argv`` (without the program name); return the exit code."""
    options = parse(argv)
    configure_logging("warning", json=True, stream=sys.stderr)
    return anyio.run(App(options).main)


def _forked(argv: Sequence[str], log: str) -> NoReturn:
    """In a forked child: send the output to ``log``, run the app, leave without cleanup."""
    code = 1
    try:
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        code = run(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> int | None:
    """Reap ``pid`` within ``timeout`` seconds; return its exit code (``-signal`` if killed)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.005)


def serve() -> int:
    """Fork server: start the app in forked children, so a restart does not re-import it all.

    One command per stdin line, one reply line per command on stdout:

    - ``{"run": [args...], "log": path}``: fork a child running the app; reply ``pid N``.
    - ``{"poll": 0}``: reply ``alive`` or ``exit CODE``; ``{"wait": seconds}``: the same,
      after waiting up to that long for the child to exit.
    - ``{"kill": 0}``: SIGKILL the child; reply ``exit CODE`` once it is reaped.

    The child is reaped only here, after its exit was replied, so its pid is never reused
    while a kill can still be aimed at it.
    """
    pid: int | None = None
    code: int | None = None

    def reply(text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        command = json.loads(line)
        if "run" in command:
            if pid is not None and code is None:
                raise RuntimeError("a child is still running")
            pid, code = os.fork(), None
            if pid == 0:
                _forked(command["run"], command["log"])
            reply(f"pid {pid}")
            continue
        if pid is None:
            raise RuntimeError(f"no child for {command}")
        if "kill" in command and code is None:
            os.kill(pid, signal.SIGKILL)
            code = _wait(pid, 60.0)
        elif code is None:
            code = _wait(pid, float(command.get("wait", 0.0)))
        reply("alive" if code is None else f"exit {code}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m tests.reliability._kill_app [--serve | app options]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["--serve"]:
        return serve()
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
