"""The demo that ``make run`` starts: real processes on a real SQLite file, stopped by signals."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--interval", "0.05", "--retry-wait", "0.3"]
"""20 orders a second and 0.3 s retry windows: every path of the plan shows within ~2 s."""
WAIT = 60.0
"""Upper bound on any wait for the process; only reached when something is broken."""


CRASHING_DEMO = """
import sys

import msgspec

import examples.app as app
import examples.demo as demo
from actorgrid.kernel import Actor, KernelConfig

config = demo.demo_config
install = app.OrderService.install


class Crasher(Actor):
    async def receive(self, message):
        raise RuntimeError("a built-in actor's bug")


def no_restarts(db, *, base_wait):
    strict = KernelConfig(root_intensity=0)
    return msgspec.structs.replace(config(db, base_wait=base_wait), kernel=strict)


async def install_and_crash(self, rt):
    await install(self, rt)
    crasher = await rt.kernel.spawn(Crasher, name="crasher")
    await crasher.tell("crash")


demo.demo_config = no_restarts
app.OrderService.install = install_and_crash
sys.exit(demo.main(sys.argv[1:]))
"""
"""The demo with a root child that crashes at once, and a root that allows no restart."""


def demo_command(*args: str) -> list[str]:
    """The command line of ``python -m examples.demo`` with ``args``."""
    return [sys.executable, "-m", "examples.demo", *args]


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the demo to its end from the repository root."""
    return subprocess.run(
        demo_command(*args), cwd=ROOT, capture_output=True, text=True, timeout=WAIT, check=False
    )


def json_events(stdout: str) -> list[dict[str, Any]]:
    """Parse the demo's ``--json`` output (every line must be a JSON object)."""
    return [json.loads(line) for line in stdout.splitlines()]


def named(events: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The events called ``name``, in order."""
    return [e for e in events if e.get("event") == name]


def database(path: Path) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Message rows by state, and ``(target_id, reason)`` of every dead letter."""
    with sqlite3.connect(path) as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM messages GROUP BY state").fetchall())
        dead = db.execute("SELECT target_id, reason FROM dead_letters").fetchall()
    return states, dead


class JsonLines:
    """Reads ``--json`` output in a thread; ``ready`` is set once ``done(events)`` holds."""

    def __init__(self, stream: IO[str], done: Callable[[list[dict[str, Any]]], bool]) -> None:
        self.events: list[dict[str, Any]] = []
        self.other: list[str] = []
        self.ready = threading.Event()
        self._done = done
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                self.other.append(line)
                continue
            if not self.ready.is_set() and self._done(self.events):
                self.ready.set()

    def join(self) -> None:
        self._thread.join(WAIT)


def every_path_seen(events: list[dict[str, Any]]) -> bool:
    """An early retry, a revise-phase retry, both kinds of dead letter and a status line."""
    reasons = {e["reason"] for e in named(events, "dead_letter")}
    return (
        bool(named(events, "early_retry"))
        and any(e["phase"] == "revise" for e in named(events, "retry"))
        and {"exhausted", "non_retryable"} <= reasons
        and any(e["dead_letters"] >= 2 for e in named(events, "status"))
    )


class TestDemoProcess:
    @pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
    def test_signal_stops_the_runtime_cleanly(self, signum: signal.Signals, tmp_path: Path) -> None:
        """A signal after retries and dead letters drains, prints a summary and exits 0."""
        db = tmp_path / "demo.db"
        with subprocess.Popen(
            demo_command("--json", "--db", str(db), *FAST),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proc:
            assert proc.stdout is not None
            out = JsonLines(proc.stdout, every_path_seen)
            try:
                assert out.ready.wait(WAIT), f"not every path seen: {out.events[-8:]}"
                proc.send_signal(signum)
                code = proc.wait(WAIT)
            finally:
                if proc.poll() is None:
                    proc.kill()
            out.join()

        assert code == 0
        assert out.other == []
        events = out.events
        assert [e["signal"] for e in named(events, "signal_received")] == [signum.name]
        assert not [e for e in events if e.get("level") in ("error", "critical")]
        assert named(events, "database_new")[0]["path"] == str(db)
        started = named(events, "demo_started")[0]
        assert "demo setting" in started["retry_windows"]
        early = named(events, "early_retry")[0]
        assert early["after"].startswith("RateLimited: ")
        revise = next(e for e in named(events, "retry") if e["phase"] == "revise")
        assert revise["attempt"] == 4  # two base retries came first
        exhausted = next(e for e in named(events, "dead_letter") if e["reason"] == "exhausted")
        assert exhausted["attempts"] == 6
        assert exhausted["error"].startswith("MalformedOrder: ")
        (summary,) = named(events, "summary")
        assert summary["shutdown"] == "clean"
        assert summary["paid"] == summary["notified"]  # the drain sent every confirmation

        states, dead = database(db)
        assert states.get("done", 0) == summary["paid"] >= 1
        assert states.get("dead", 0) == len(dead) == summary["dead_letters"]
        assert {"exhausted", "non_retryable"} <= {reason for _, reason in dead}
        assert sum(states.values()) == summary["orders"]  # one row per published order
        assert states.get("inflight", 0) == states.get("ready", 0) == 0  # drained

    def test_seconds_ends_the_demo_by_itself(self, tmp_path: Path) -> None:
        """``--seconds 2`` stops on its own with readable status lines and a clean summary."""
        proc = run_demo("--seconds", "2", "--db", str(tmp_path / "demo.db"))

        assert proc.returncode == 0, proc.stdout + proc.stderr
        lines = proc.stdout.splitlines()
        assert any(re.search(r"demo_started .*retry_windows='base 1.5 s", x) for x in lines)
        status = [x for x in lines if re.search(r"\bstatus\b", x)]
        assert status
        assert re.search(r"orders=\d+ paid=\d+ .*dead_letters=\d+", status[0])
        assert any("time_is_up" in x for x in lines)
        summary = [x for x in lines if re.search(r"\bsummary\b", x)]
        assert len(summary) == 1
        assert "shutdown=clean" in summary[0]
        assert "Traceback" not in proc.stdout
        assert proc.stderr == ""

    def test_a_second_run_resumes_the_first(self, tmp_path: Path) -> None:
        """Retries left scheduled by one run are found, re-armed and handled by the next."""
        db = tmp_path / "demo.db"
        first = run_demo("--json", "--seconds", "1.5", "--db", str(db), "--interval", "0.05")
        assert first.returncode == 0, first.stdout
        (summary1,) = named(json_events(first.stdout), "summary")
        states, _ = database(db)
        scheduled = states.get("scheduled", 0)
        assert scheduled >= 1  # a failure in the last 1.5 s waits for its retry window

        second = run_demo("--json", "--seconds", "1", "--db", str(db), *FAST)
        assert second.returncode == 0, second.stdout
        events = json_events(second.stdout)
        (found,) = named(events, "database_found")
        assert found["scheduled"] == found["recovering"] == scheduled
        assert found["done"] == summary1["paid"]
        assert found["next_order"] == f"o-{summary1['orders'] + 1}"
        assert named(events, "scheduled_recovered")[0]["count"] == scheduled
        retried = [
            e
            for e in named(events, "retry") + named(events, "early_retry")
            if int(e["order"][2:]) <= summary1["orders"]
        ]
        assert retried  # messages of the first run handled in the second
        (summary2,) = named(events, "summary")
        assert summary2["shutdown"] == "clean"
        states, _ = database(db)
        assert sum(states.values()) == summary1["orders"] + summary2["orders"]

    def test_a_failed_runtime_exits_non_zero(self, tmp_path: Path) -> None:
        """A root child that crashes past the root's restart limit (0 here) ends the demo
        with status 1 and an error naming the child, not with a traceback."""
        proc = subprocess.run(
            [sys.executable, "-c", CRASHING_DEMO, "--json", "--db", str(tmp_path / "demo.db")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )

        assert proc.returncode == 1, proc.stdout + proc.stderr
        events = json_events(proc.stdout)
        (limit,) = named(events, "restart_limit_exceeded")
        assert (limit["supervisor"], limit["child"], limit["level"]) == ("root", "crasher", "error")
        (failed,) = named(events, "demo_failed")
        assert (failed["child"], failed["level"]) == ("crasher", "error")
        assert not named(events, "summary")
        assert proc.stderr == ""  # no uncaught exception

    @pytest.mark.parametrize(
        ("args", "option"),
        [(["--interval", "0"], "--interval"), (["--db", "/no/such/folder/x.db"], "--db")],
        ids=["interval", "db"],
    )
    def test_bad_option_is_refused(self, args: list[str], option: str) -> None:
        """A bad option value exits with a usage error and starts nothing."""
        proc = run_demo(*args)

        assert proc.returncode == 2
        assert option in proc.stderr
        assert "runtime_started" not in proc.stdout
