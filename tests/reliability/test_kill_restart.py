"""Durable delivery under SIGKILL: a real child process is killed and restarted many times.

The child (``tests/reliability/_kill_app.py``) publishes a durable stream whose handler fails
at random and records every acknowledged publish in a file. It is killed with SIGKILL at
seeded random moments (during start-up, right after recovery, in the middle of the stream)
and restarted on the same SQLite file each time; the kill runs are forked from a server that
imported the runtime once, so 34 restarts fit in about half a minute. Then one run stops by
itself (a graceful stop that leaves scheduled rows behind), and a new interpreter runs in
finish mode until every row is final. The database is checked with plain ``sqlite3`` against
DESIGN.md's guarantees: every acknowledged publish is done or dead exactly once, none lost,
and retry records agree with the message attempts.

The child runs 8 workers with half of the attempts failing and, every other run, writes retry
records behind every 5 ms (``GateSettings.flush_interval``, else the default 50 ms): the more
often a record and its message's state are written, the likelier a kill lands between two
writes that must be one.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from actorgrid.actors.patterns._settings import failure_index_path
from tests.reliability._kill_app import MAX_ATTEMPTS, TOPIC, Job

ROOT = Path(__file__).resolve().parents[2]
SEED = 42024
KILLS = {"startup": 6, "recovery": 8, "stream": 20}
"""Kills per moment: 34 in all."""
DELAYS = {"startup": (0.0, 0.4), "recovery": (0.0, 0.03), "stream": (0.1, 0.8)}
"""Seconds from the moment to the kill: from the fork (the start-up: migration, recovery,
the first publishes), from the subscription (recovery of ready and scheduled rows), or well
into the stream."""
GRACEFUL_LIMIT = 150
"""Messages the run before the finish run publishes before it stops by itself, cleanly."""
READY_WAIT = 60.0
"""Upper bound on a child's start-up; only reached when something is broken."""
FINISH = 30.0
"""Seconds the finish run may take to bring every row to a final state."""
FINAL_STATES = {"done", "dead"}


@dataclass
class Files:
    """The files a child run shares with the test."""

    root: Path
    db: Path = field(init=False)
    acks: Path = field(init=False)
    attempts: Path = field(init=False)
    ready: Path = field(init=False)
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.db = self.root / "kill.db"
        self.acks = self.root / "acks.txt"
        self.attempts = self.root / "attempts.txt"
        self.ready = self.root / "ready"
        self.log = self.root / "child.log"

    def mark(self, event: str) -> None:
        """Append a timestamped line to the children's combined output."""
        with self.log.open("a") as log:
            log.write(f"--- {datetime.now(UTC).strftime('%H:%M:%S.%f')} {event}\n")

    def log_tail(self, lines: int = 30) -> str:
        """Return the end of the children's combined output (without the dead-letter notes)."""
        if not self.log.exists():
            return "(no output)"
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join([line for line in text if "message_dead_lettered" not in line][-lines:])


class ForkServer:
    """The child app's fork server (``_kill_app --serve``): restarts without re-importing.

    Importing the runtime takes seconds on a loaded machine; the server imports it once and
    forks a fresh process per run. Each run is still a separate process with its own event
    loop, engine and runtime, killed for real with SIGKILL.
    """

    def __init__(self, files: Files) -> None:
        self.files = files
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        self._stderr = files.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.reliability._kill_app", "--serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.replies: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.replies.put(line.strip())
        self.replies.put("closed")

    def ask(self, command: dict[str, Any], timeout: float = READY_WAIT) -> str:
        """Send one command and return the server's reply."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        try:
            reply = self.replies.get(timeout=timeout + 5.0)
        except queue.Empty:
            reply = "no reply"
        assert reply != "closed", f"fork server is gone:\n{self.files.log_tail()}"
        return reply

    def start(self, run: int, *extra: str) -> None:
        """Fork a child run on the shared files."""
        self.files.ready.unlink(missing_ok=True)
        self.files.mark(f"run {run} {' '.join(extra)}")
        reply = self.ask({"run": app_args(self.files, run, *extra), "log": str(self.files.log)})
        assert reply.startswith("pid "), reply

    def exit_code(self, wait: float = 0.0) -> int | None:
        """Return the child's exit code, waiting up to ``wait`` s; ``None`` while it runs."""
        reply = self.ask({"wait": wait}, timeout=wait)
        return None if reply == "alive" else int(reply.split()[1])

    def kill(self) -> int:
        """SIGKILL the child (if it still runs); return its exit code."""
        self.files.mark("kill")
        return int(self.ask({"kill": 0}).split()[1])

    def close(self) -> None:
        """Stop the server once its child has exited (a running child is killed first)."""
        try:
            if self.proc.poll() is None:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                try:
                    self.proc.wait(10.0)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        finally:
            self._stderr.close()


def app_args(files: Files, run: int, *extra: str) -> list[str]:
    """Return the child app's command line (without the program)."""
    return [
        "--db",
        str(files.db),
        "--acks",
        str(files.acks),
        "--attempts",
        str(files.attempts),
        "--ready",
        str(files.ready),
        "--run",
        str(run),
        *extra,
    ]


def wait_ready(server: ForkServer) -> None:
    """Poll until the child's subscription runs; fail if it exits or takes too long."""
    files = server.files
    deadline = time.monotonic() + READY_WAIT
    polls = 0
    while not files.ready.exists():
        polls += 1
        if polls % 10 == 0:
            code = server.exit_code()
            assert code is None, f"child exited with {code} before ready:\n{files.log_tail()}"
        assert time.monotonic() < deadline, f"child not ready in time:\n{files.log_tail()}"
        time.sleep(0.005)


def kill_plan(rng: random.Random) -> list[tuple[str, float]]:
    """Return (moment, delay) pairs in a seeded random order; the first run dies starting."""
    moments = [kind for kind, count in KILLS.items() for _ in range(count)]
    rng.shuffle(moments)
    moments.remove("startup")
    moments.insert(0, "startup")
    return [(kind, rng.uniform(*DELAYS[kind])) for kind in moments]


def kill_at(server: ForkServer, moment: str, delay: float) -> int:
    """SIGKILL the running child ``delay`` s after ``moment``; return its exit code."""
    if moment != "startup":
        wait_ready(server)
    code = server.exit_code(wait=delay)
    return code if code is not None else server.kill()


def read_lines(path: Path) -> list[str]:
    """Return the complete lines of a file a killed child appended to (a torn tail is dropped)."""
    if not path.exists():
        return []
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1] if "\n" in text else ""
    return complete.splitlines()


@dataclass
class Verdict:
    """What the final database says, and every way it breaks the guarantees."""

    problems: list[str] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)

    def fail(self, what: str, ids: list[str] | set[str], detail: str = "") -> None:
        """Record a broken guarantee with how many ids break it and a few examples."""
        if ids:
            some = sorted(ids)[:3]
            self.problems.append(f"{what}: {len(ids)} message(s), e.g. {some} {detail}".rstrip())


def check(files: Files) -> Verdict:
    """Check the database left by the final run against the durable-delivery guarantees."""
    verdict = Verdict()
    acked_lines = read_lines(files.acks)
    acked = set(acked_lines)
    if len(acked) != len(acked_lines):
        dup = [i for i, n in Counter(acked_lines).items() if n > 1]
        verdict.fail("a message id was acknowledged twice", dup)

    conn = sqlite3.connect(files.db)
    try:
        messages = {
            row[0]: row[1:]
            for row in conn.execute(
                "SELECT id, state, attempts, target_type, target_id, payload FROM messages"
            )
        }
        dead_letters: dict[str | None, list[tuple[Any, ...]]] = defaultdict(list)
        for row in conn.execute(
            "SELECT message_id, attempts, reason, retry_record FROM dead_letters"
        ):
            record_then = json.loads(row[3]) if row[3] else {}
            dead_letters[row[0]].append((row[1], row[2], record_then.get("attempt_count")))
        records = {
            (row[0], row[1]): row[2:]
            for row in conn.execute(
                "SELECT target_type, target_id, attempt_count, last_success_at FROM retry_records"
            )
        }
        chunks = {
            row[0]: (row[1], json.loads(row[2]) if row[2] else {})
            for row in conn.execute("SELECT id, source, metadata FROM reference_chunks")
        }
    finally:
        conn.close()

    logged: dict[str, set[int]] = defaultdict(set)
    handled = read_lines(files.attempts)
    for line in handled:
        message_id, attempt = line.split()[:2]
        logged[message_id].add(int(attempt))

    states = Counter(m[0] for m in messages.values())
    verdict.counts = {
        "acknowledged": len(acked),
        "rows": len(messages),
        "done": states["done"],
        "dead": states["dead"],
        "max_attempts": max((m[1] for m in messages.values()), default=0),
        "handled": len(handled),
        "redelivered": len(handled) - sum(len(a) for a in logged.values()),
    }

    verdict.fail("acknowledged publish lost (no row)", acked - messages.keys())
    for state in sorted(set(states) - FINAL_STATES):
        stuck = {i for i, m in messages.items() if m[0] == state}
        verdict.fail(f"acknowledged message left {state!r}", stuck & acked)
        verdict.fail(f"unacknowledged (but committed) message left {state!r}", stuck - acked)
    verdict.fail(
        "dead letter without its message row", {str(i) for i in dead_letters.keys() - messages}
    )

    wrong: dict[str, set[str]] = defaultdict(set)
    for message_id, (state, attempts, target_type, target_id, payload) in messages.items():
        job = msgspec.msgpack.decode(payload, type=Job)
        letters = dead_letters.get(message_id, [])
        record = records.get((target_type, target_id))
        tried = logged.get(message_id, set())
        if (target_type, target_id) != (TOPIC, message_id):
            wrong["target is not (topic, message id)"].add(message_id)
        if attempts > MAX_ATTEMPTS:
            wrong[f"messages.attempts > {MAX_ATTEMPTS}"].add(message_id)
        if tried and max(tried) > MAX_ATTEMPTS:
            wrong[f"handler ran an attempt numbered > {MAX_ATTEMPTS}"].add(message_id)
        if state == "dead":
            if len(letters) != 1:
                wrong[f"dead message with {len(letters)} dead_letters rows"].add(message_id)
            elif letters[0][:2] != (attempts, "exhausted"):
                wrong["dead_letters.attempts/reason disagree with the message"].add(message_id)
            elif letters[0][2] != attempts:
                wrong["dead letter's retry record disagrees with its attempts"].add(message_id)
            if attempts != MAX_ATTEMPTS:
                wrong[f"dead after attempts != {MAX_ATTEMPTS}"].add(message_id)
            if record is None or record[0] != attempts:
                wrong["dead message: retry_records.attempt_count != attempts"].add(message_id)
            if not set(range(1, MAX_ATTEMPTS + 1)) <= tried:
                wrong["dead message: an attempt it counts never ran"].add(message_id)
        elif state == "done":
            if letters:
                wrong["done message has a dead_letters row"].add(message_id)
            if job.doomed:
                wrong["doomed message (its handler always fails) is done"].add(message_id)
            if attempts > 0 and (record is None or record[0] != 0 or record[1] is None):
                wrong["done after failures: retry record not reset by the success"].add(message_id)
            if attempts == 0 and record is not None and record[0] != 0:
                wrong["done at first try, yet its retry record counts failures"].add(message_id)
            if not set(range(1, attempts + 2)) <= tried:
                wrong["done message: an attempt it counts never ran"].add(message_id)
    for what, ids in sorted(wrong.items()):
        verdict.fail(what, ids)

    orphans = [tid for (ttype, tid) in records if ttype != TOPIC or tid not in messages]
    verdict.fail("retry record without a message", orphans)
    check_pattern_indexes(files, chunks, messages.keys(), verdict)
    return verdict


def check_pattern_indexes(
    files: Files,
    chunks: dict[int, tuple[str, dict[str, Any]]],
    messages: Any,
    verdict: Verdict,
) -> None:
    """The pattern engine's index files, saved by the final run's graceful stop, list exactly
    the chunks the table holds (references in one, failures in the other), and every failure
    chunk names a message of the stream. Failures noted just before a kill may be missing:
    they are best effort, but the files and the table never disagree after a clean stop."""
    failures = {i for i, (source, _) in chunks.items() if source == "failure"}
    verdict.counts["failure_chunks"] = len(failures)
    references = files.db.with_name(files.db.name + ".hnsw")
    failure_index = failure_index_path(references)
    assert failure_index is not None
    for index, wanted in ((references, set(chunks) - failures), (failure_index, failures)):
        file = index.name
        sidecar = index.with_name(file + ".meta.json")
        listed = set(json.loads(sidecar.read_text())["ids"]) if sidecar.exists() else set()
        verdict.fail(f"{file} lists chunks the table lacks", {str(i) for i in listed - wanted})
        verdict.fail(f"{file} lacks chunks of the table", {str(i) for i in wanted - listed})
    strays = {str(i) for i in failures if chunks[i][1].get("message_id") not in messages}
    verdict.fail("failure chunk of an unknown message", strays)


class TestKillRestart:
    """A durable stream survives SIGKILL at random moments and restarts on the same database."""

    def test_acknowledged_publishes_end_done_or_dead_exactly_once(self, tmp_path: Path) -> None:
        """After 34 SIGKILLs and a finish run, every acknowledged publish is final, consistent."""
        started = time.monotonic()
        files = Files(tmp_path)
        rng = random.Random(SEED)
        kills: Counter[str] = Counter()
        problems: list[str] = []
        server = ForkServer(files)
        try:
            plan = kill_plan(rng)
            for run, (moment, delay) in enumerate(plan):
                server.start(run)
                code = kill_at(server, moment, delay)
                if code == -signal.SIGKILL:
                    kills[moment] += 1
                else:
                    problems.append(f"run {run} ({moment}) exited by itself with {code}")
            server.start(len(plan), "--limit", str(GRACEFUL_LIMIT))
            graceful = server.exit_code(wait=READY_WAIT)
            if graceful != 0:
                problems.append(f"graceful run exited with {graceful}")
                server.kill()
        finally:
            server.close()

        files.ready.unlink(missing_ok=True)
        files.mark(f"run {len(plan) + 1} --finish (a new interpreter)")
        with files.log.open("ab") as log:
            final = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.reliability._kill_app",
                    *app_args(files, len(plan) + 1, "--finish", "--deadline", str(FINISH)),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            finished: int | None = final.wait(FINISH + READY_WAIT)
        except subprocess.TimeoutExpired:
            finished = None
        finally:
            if final.poll() is None:
                final.kill()
                final.wait()
        if finished != 0:
            problems.append(f"finish run exited with {finished}")
        verdict = check(files)
        verdict.problems[:0] = problems

        summary = ", ".join(f"{k}={v}" for k, v in verdict.counts.items())
        print(
            f"\nkill/restart: kills={sum(kills.values())} {dict(kills)}, {summary}, "
            f"{time.monotonic() - started:.1f}s"
        )
        report = "\n".join(verdict.problems)
        assert not verdict.problems, f"{report}\n--- child output (tail):\n{files.log_tail()}"
        assert sum(kills.values()) >= 20
        assert verdict.counts["acknowledged"] > 0
        assert verdict.counts["dead"] > 0
