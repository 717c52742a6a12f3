"""Peers benchmark: the same workloads on actorgrid and on what a Python user would pick instead.

Each (peer, workload) runs once in a child process of its own (``bench/_peers.py`` says what
each workload does), one after another on this machine, so that every tasks/s figure comes
from the same run and every peak RSS from a heap of its own: the child's ``VmHWM``, which
counts its own image only (``wait4``'s ``ru_maxrss`` is read too, and used off Linux, but on
Linux it keeps the high-water mark of the bench process the child was forked from). The
peers:

* on SQLite: huey's ``SqliteHuey``, persist-queue's ``SQLiteAckQueue``, litequeue;
* in memory: huey's ``MemoryHuey``, Pykka (actors);
* on Redis, when a server answers on 127.0.0.1:6379: Dramatiq's ``RedisBroker`` and arq. If
  none answers and Debian's ``redis-server`` is installed, the bench starts one (no
  snapshots, no AOF) and stops it afterwards.

actorgrid runs durable (a SQLite file, ``synchronous=NORMAL``) and in memory, with the pattern
engine off (no peer has one); the durable runs are repeated with the engine on, against the
engine off. Durable peers (SQLite, Redis) are compared with durable actorgrid, in-memory
peers with in-memory actorgrid; the ratio is actorgrid / peer, and ``target_ratio`` 1.0 (ahead
of every peer) on every workload but ``failing``, which the pattern-engine work is to fix. The
floor is raw ``sqlite3`` inserting, then updating, the same rows in transactions of 1,000.

Figures: ``<workload>_vs_<peer>`` (tasks/s), ``<workload>_durable_vs_floor``,
``<workload>_pattern_engine_on``, ``<workload>_peak_rss_vs_<peer>`` (MB, lower is better),
``floor_raw_sqlite3`` and ``peak_rss_interpreter``. The JSON also carries a table of every
run and one of the durability each peer offers.

Run: ``python -m bench.peers --quick`` (1,000 tasks, under a minute), ``--full`` (100,000
tasks: long, the slowest peers run a few hundred tasks/s), ``--tasks N`` for another size
(the issue's figures are at 20,000: about ten minutes on two cores), and ``--peers NAME ...``
or ``--workloads NAME ...`` for a subset.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bench._common import Figure, Mode, Table, note, report
from bench._peers import PEERS, WORKLOADS

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = (
    "PEER_INFO",
    "Peer",
    "Run",
    "figures_of",
    "main",
    "measure",
    "redis_server",
    "run",
    "tables_of",
)

ROOT: Final = Path(__file__).resolve().parent.parent
QUICK_TASKS: Final = 1_000
FULL_TASKS: Final = 100_000
REDIS: Final = ("127.0.0.1", 6379)


@dataclass(frozen=True, slots=True)
class Peer:
    """What a peer is, what it needs, and what it promises."""

    label: str
    module: str | None
    """The module it needs installed (None: nothing beyond the standard library)."""
    kind: str
    """``durable``, ``memory`` or ``redis``; ``memory`` peers are compared with in-memory
    actorgrid, the others with durable actorgrid."""
    storage: str
    delivery: str
    settings: str = ""
    workloads: tuple[str, ...] = ("single", "failing", "sequential")
    """What it runs: ``batch`` needs a batch enqueue; ``sequential`` (the per-commit rate of
    one producer) means something for stores only."""


_ALL = ("single", "failing", "batch", "sequential")
_SINGLE_AND_FAILING = ("single", "failing")


PEER_INFO: Final = {
    "actorgrid-durable": Peer(
        "actorgrid (durable)",
        None,
        "self",
        "SQLite WAL, synchronous=NORMAL (each commit durable against a process crash; "
        "fsync at checkpoints), group commit",
        "at-least-once: a message is acked (state done) after its handler returns",
        "concurrency=4, max_in_flight=1000, pattern engine off, retry at once",
        workloads=_ALL,
    ),
    "actorgrid-memory": Peer(
        "actorgrid (in memory)",
        None,
        "self",
        "none (process memory)",
        "at-most-once across a crash; retried in process",
        "transient topic, concurrency=4, pattern engine off",
        workloads=("single", "failing", "batch"),
    ),
    "actorgrid-durable-pattern": Peer(
        "actorgrid (durable, pattern engine on)",
        None,
        "self",
        "as actorgrid (durable), plus the failure index",
        "at-least-once",
        "the default pattern engine (hashing embedder)",
        workloads=_SINGLE_AND_FAILING,
    ),
    "huey-sqlite": Peer(
        "huey SqliteHuey",
        "huey",
        "durable",
        "SQLite WAL, synchronous left at SQLite's default (FULL: fsync per commit)",
        "at-most-once: a task's row is deleted when a worker dequeues it, before it runs",
        "4 thread workers, polling every 1-10 ms",
    ),
    "huey-memory": Peer(
        "huey MemoryHuey",
        "huey",
        "memory",
        "none (process memory)",
        "at-most-once",
        "4 thread workers, polling every 1-10 ms",
        workloads=_SINGLE_AND_FAILING,
    ),
    "persist-queue": Peer(
        "persist-queue SQLiteAckQueue",
        "persistqueue",
        "durable",
        "SQLite WAL, synchronous left at SQLite's default (FULL), a commit per put and ack",
        "at-least-once: get marks a row unacked, ack/nack settle it",
        "4 consumer threads of ours (the library has no worker), multithreading=True",
    ),
    "litequeue": Peer(
        "litequeue",
        "litequeue",
        "durable",
        "SQLite WAL, synchronous=NORMAL",
        "at-least-once: pop locks a row, done settles it (stale locks are the caller's)",
        "4 consumer threads of ours, one connection each; batches in one transaction",
        workloads=_ALL,
    ),
    "pykka": Peer(
        "Pykka (ThreadingActor)",
        "pykka",
        "memory",
        "none (process memory)",
        "at-most-once; a failed task re-sent by its actor",
        "4 actors fed round robin",
        workloads=_SINGLE_AND_FAILING,
    ),
    "dramatiq-redis": Peer(
        "Dramatiq RedisBroker",
        "dramatiq",
        "redis",
        "Redis: see the server's persistence in this table's title",
        "at-least-once: messages are acked after the actor returns",
        "Worker with 4 threads, worker_timeout=10 ms, retry after 1 ms",
    ),
    "arq-redis": Peer(
        "arq",
        "arq",
        "redis",
        "Redis: see the server's persistence in this table's title",
        "at-least-once for jobs whose worker dies (in-progress keys expire), else once",
        "max_jobs=4, poll_delay=1 ms, Retry(defer=0)",
    ),
}
OURS: Final = ("actorgrid-durable", "actorgrid-memory", "actorgrid-durable-pattern")
REFERENCES: Final = ("floor", "interpreter")


@dataclass(frozen=True, slots=True)
class Run:
    """One workload on one peer, in its own process."""

    peer: str
    workload: str
    tasks: int
    tasks_per_s: float | None
    """None when the peer has no way to run the workload (a batch without a batch API)."""
    peak_rss_mb: float
    error: str | None = None


def installed(peer: str) -> bool:
    """Whether the peer's library can be imported here."""
    module = PEER_INFO[peer].module if peer in PEER_INFO else None
    return module is None or importlib.util.find_spec(module) is not None


def measure(peer: str, workload: str, tasks: int, folder: Path) -> Run:
    """Run one workload on one peer in a child process; its rate and its peak RSS."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(mode="w+") as errors:
        child = subprocess.Popen(
            [sys.executable, "-m", "bench._peers", peer, workload, str(tasks), str(folder)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert child.stdout is not None
        out = child.stdout.read()
        child.stdout.close()
        # wait4, not wait: the resource usage of this child alone (its peak RSS in KiB).
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        rss = usage.ru_maxrss / 1024  # KiB; the fork's high-water mark included (see above)
        if child.returncode != 0:
            errors.seek(0)
            lines = errors.read().strip().splitlines() or [f"exit status {child.returncode}"]
            return Run(peer, workload, tasks, None, rss, error=lines[-1])
    result = json.loads(out.strip().splitlines()[-1])
    rate, own = result["tasks_per_s"], result.get("peak_rss_kib")
    rss = own / 1024 if isinstance(own, int) else rss
    return Run(peer, workload, tasks, None if rate is None else float(rate), rss)


# -- Redis ------------------------------------------------------------------------------------


def redis_command(*args: str, timeout: float = 1.0) -> str | None:
    """Send one command to the Redis server on 127.0.0.1:6379; its raw reply, or None."""
    request = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
    try:
        with socket.create_connection(REDIS, timeout=timeout) as conn:
            conn.sendall(request.encode())
            return conn.recv(65536).decode(errors="replace")
    except OSError:
        return None


def redis_answers() -> bool:
    return (redis_command("PING") or "").startswith("+PONG")


def redis_persistence() -> str:
    """The server's persistence, as its CONFIG reports it (an empty ``save``: no snapshots)."""
    parts: list[str] = []
    for key in ("appendonly", "appendfsync", "save"):
        lines = (redis_command("CONFIG", "GET", key) or "").split("\r\n")
        # A reply is *2, then $len and the name, then $len and the value.
        values = [lines[i + 1] for i, line in enumerate(lines[:-1]) if line.startswith("$")]
        if len(values) == 2:
            parts.append(f"{key}={values[1]!r}")
    return ", ".join(parts) or "persistence unknown"


@contextlib.contextmanager
def redis_server() -> Iterator[str | None]:
    """Yield how Redis is available (None: it is not). Starts ``redis-server`` when none
    answers and one is installed, and stops it (by its pid) on the way out."""
    if redis_answers():
        yield "a Redis server already running"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    server = subprocess.Popen(
        [binary, "--port", str(REDIS[1]), "--bind", REDIS[0], "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10.0
        while not redis_answers():
            if server.poll() is not None or time.monotonic() > deadline:
                yield None
                return
            time.sleep(0.05)
        yield "redis-server started by the bench"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# -- figures ----------------------------------------------------------------------------------


def _rate(runs: Sequence[Run], peer: str, workload: str) -> Run | None:
    for r in runs:
        if r.peer == peer and r.workload == workload and r.error is None:
            return r
    return None


def _ours_for(peer: str) -> str:
    return "actorgrid-memory" if PEER_INFO[peer].kind == "memory" else "actorgrid-durable"


def figures_of(runs: Sequence[Run]) -> list[Figure]:
    """Turn the runs into figures: actorgrid against each peer, the floor, the engine, RSS."""
    figures: list[Figure] = []
    floor = _rate(runs, "floor", "single")
    peers = [p for p in PEER_INFO if p not in OURS]
    for workload in WORKLOADS:
        target = None if workload == "failing" else 1.0
        for peer in peers:
            ours, theirs = _rate(runs, _ours_for(peer), workload), _rate(runs, peer, workload)
            if ours is None or theirs is None or ours.tasks_per_s is None:
                continue
            if theirs.tasks_per_s is not None:
                figures.append(
                    Figure(
                        f"{workload}_vs_{peer}",
                        "tasks/s",
                        ours.tasks_per_s,
                        PEER_INFO[peer].label,
                        theirs.tasks_per_s,
                        target_ratio=target,
                    )
                )
        durable = _rate(runs, "actorgrid-durable", workload)
        if durable is not None and durable.tasks_per_s is not None:
            if floor is not None and floor.tasks_per_s is not None:
                figures.append(
                    Figure(
                        f"{workload}_durable_vs_floor",
                        "tasks/s",
                        durable.tasks_per_s,
                        "raw sqlite3 insert + update, 1,000 per transaction",
                        floor.tasks_per_s,
                    )
                )
            pattern = _rate(runs, "actorgrid-durable-pattern", workload)
            if pattern is not None and pattern.tasks_per_s is not None:
                figures.append(
                    Figure(
                        f"{workload}_pattern_engine_on",
                        "tasks/s",
                        pattern.tasks_per_s,
                        "actorgrid (durable), pattern engine off",
                        durable.tasks_per_s,
                    )
                )
    for workload in WORKLOADS:
        for peer in peers:
            ours, theirs = _rate(runs, _ours_for(peer), workload), _rate(runs, peer, workload)
            if ours is None or theirs is None or theirs.tasks_per_s is None:
                continue
            figures.append(
                Figure(
                    f"{workload}_peak_rss_vs_{peer}",
                    "MB",
                    round(ours.peak_rss_mb, 1),
                    f"{PEER_INFO[peer].label} peak RSS",
                    round(theirs.peak_rss_mb, 1),
                    higher_is_better=False,
                )
            )
    if floor is not None and floor.tasks_per_s is not None:
        figures.append(Figure("floor_raw_sqlite3", "rows/s", floor.tasks_per_s))
    bare = _rate(runs, "interpreter", "single")
    if bare is not None:
        figures.append(Figure("peak_rss_interpreter", "MB", round(bare.peak_rss_mb, 1)))
    return figures


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def tables_of(runs: Sequence[Run], redis: str | None) -> list[Table]:
    """The table of every run and the table of what each peer promises (``redis``: the
    server this run used and its persistence, or None)."""
    rows: list[list[str]] = []
    for r in runs:
        label = PEER_INFO[r.peer].label if r.peer in PEER_INFO else r.peer
        if r.error is not None:
            rate = f"failed: {r.error}"
        elif r.peer == "interpreter":
            rate = "— (a bare child: its RSS only)"
        elif r.tasks_per_s is None:
            rate = "n/a (no batch enqueue)"
        else:
            rate = _fmt(r.tasks_per_s)
        ratio = "—"
        if r.peer in PEER_INFO and r.peer not in OURS and r.tasks_per_s:
            ours = _rate(runs, _ours_for(r.peer), r.workload)
            if ours is not None and ours.tasks_per_s:
                ratio = f"{ours.tasks_per_s / r.tasks_per_s:.2f}"
        rows.append([r.workload, label, f"{r.tasks:,}", rate, ratio, f"{r.peak_rss_mb:.1f}"])
    persistence = "no Redis in this run" if redis is None else redis
    promises = [
        [info.label, info.storage, info.delivery, info.settings]
        for name, info in PEER_INFO.items()
        if any(r.peer == name for r in runs)
    ]
    return [
        Table(
            "Runs (one child process each; actorgrid/peer against durable or in-memory "
            "actorgrid as the peer is)",
            ("workload", "peer", "tasks", "tasks/s", "actorgrid / peer", "peak RSS MB"),
            rows,
        ),
        Table(
            f"What each one promises (Redis: {persistence})",
            ("peer", "storage and fsync", "delivery", "settings here"),
            promises,
        ),
    ]


# -- driver -----------------------------------------------------------------------------------


def run(
    tasks: int, peers: Sequence[str] | None = None, workloads: Sequence[str] | None = None
) -> tuple[list[Run], str | None]:
    """Run every workload on every installed peer (Redis ones when a server answers).

    Returns:
        The runs, and which Redis server they used with its persistence (None: no Redis).
    """
    chosen = [p for p in PEERS if peers is None or p in peers]
    wanted = [w for w in WORKLOADS if workloads is None or w in workloads]
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp, redis_server() as redis:
        if redis is None and any(p in PEER_INFO and PEER_INFO[p].kind == "redis" for p in chosen):
            note("no Redis server answers and none could be started: the Redis peers are skipped")
        if redis is not None:
            redis = f"{redis}, {redis_persistence()}"
        folder = Path(tmp)
        for peer in chosen:
            if peer in REFERENCES:
                note(f"{peer}")
                runs.append(measure(peer, "single", tasks if peer == "floor" else 0, folder / peer))
                continue
            if not installed(peer):
                note(f"{peer}: not installed, skipped")
                continue
            if PEER_INFO[peer].kind == "redis" and redis is None:
                continue
            for workload in (w for w in wanted if w in PEER_INFO[peer].workloads):
                result = measure(peer, workload, tasks, folder / f"{peer}-{workload}")
                rate = "n/a" if result.tasks_per_s is None else f"{result.tasks_per_s:,.0f}/s"
                note(
                    f"{peer} {workload}: {result.error or rate}, peak RSS "
                    f"{result.peak_rss_mb:.1f} MB"
                )
                runs.append(result)
    return runs, redis


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m bench.peers [--quick|--full] [--tasks N] [--peers ...]``."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help=f"{QUICK_TASKS:,} tasks (default)")
    group.add_argument("--full", action="store_true", help=f"{FULL_TASKS:,} tasks")
    parser.add_argument("--tasks", type=int, help="tasks per workload (overrides the mode's)")
    parser.add_argument("--peers", nargs="+", choices=sorted(PEERS), help="only these")
    parser.add_argument("--workloads", nargs="+", choices=sorted(WORKLOADS), help="only these")
    args = parser.parse_args(argv)
    mode: Mode = "full" if args.full else "quick"
    tasks = args.tasks or (FULL_TASKS if args.full else QUICK_TASKS)
    if tasks < 1:
        parser.error("--tasks must be at least 1")
    note(f"{tasks:,} tasks per workload, {len(WORKLOADS)} workloads, 4 consumers")
    runs, redis = run(tasks, args.peers, args.workloads)
    note("done")
    path = report("peers", mode, figures_of(runs), tables=tables_of(runs, redis))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
