"""The demo that ``make run`` starts, run as a real process and stopped by a real signal."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--interval", "0.05", "--crash-every", "10"]
"""A crash about every 0.5 s: a restart shows up before the first status line (at 1 s)."""
WAIT = 60.0
"""Upper bound on any wait for the process; only reached when something is broken."""


def start_demo(*args: str) -> subprocess.Popen[str]:
    """Start ``python -m examples.demo`` from the repository root."""
    return subprocess.Popen(
        [sys.executable, "-m", "examples.demo", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class JsonLines:
    """Reads the demo's JSON-lines output in a thread; signals once a wanted event was seen."""

    def __init__(self, stream: IO[str], *, wanted: set[str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.other: list[str] = []
        self.ready = threading.Event()
        self._wanted = wanted
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                event = json.loads(line)
            except ValueError:
                self.other.append(line)
                continue
            self.events.append(event)
            if self._wanted <= {e.get("event") for e in self.events}:
                self.ready.set()

    def join(self) -> None:
        self._thread.join(WAIT)

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == name]


class TestDemoProcess:
    @pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
    def test_signal_stops_the_demo_cleanly(self, signum: signal.Signals) -> None:
        """A signal after a restart and a status line stops the tree in reverse order, exit 0."""
        with start_demo("--json", *FAST) as proc:
            assert proc.stdout is not None
            out = JsonLines(proc.stdout, wanted={"child_restarted", "status"})
            try:
                assert out.ready.wait(WAIT), f"no restart and status line: {out.events[-5:]}"
                proc.send_signal(signum)
                code = proc.wait(WAIT)
            finally:
                if proc.poll() is None:
                    proc.kill()
            out.join()

        assert code == 0
        assert out.other == []
        assert out.named("signal_received")[0]["signal"] == signum.name
        crashes = out.named("actor_crashed")
        assert crashes
        assert all(c["actor"] == "worker" and c["on_purpose"] for c in crashes)
        restarted = [e["child"] for e in out.named("child_restarted")]
        assert restarted[:2] == ["worker", "producer"]  # rest_for_one, in start order
        (summary,) = out.named("summary")
        assert summary["shutdown"] == "clean"
        assert summary["stop_order"] == "producer,worker,stats"
        assert summary["restarts"] >= 1
        assert summary["produced"] == summary["processed"] + summary["crashes"]

    def test_seconds_ends_the_demo_by_itself(self) -> None:
        """``--seconds 1`` stops on its own, printing readable lines and a clean summary."""
        proc = subprocess.run(
            [sys.executable, "-m", "examples.demo", "--seconds", "1", *FAST],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )

        assert proc.returncode == 0, proc.stderr
        lines = proc.stdout.splitlines()
        assert any("child_restarted" in line and "child=worker" in line for line in lines)
        assert any("status" in line and "restarts=" in line for line in lines)
        summary = [line for line in lines if "summary" in line]
        assert len(summary) == 1
        assert "shutdown=clean" in summary[0]
        assert "stop_order=producer,worker,stats" in summary[0]
        assert "Traceback" not in proc.stdout  # a crash on purpose is one line

    def test_bad_option_is_refused(self) -> None:
        """A bad option value exits with a usage error and starts nothing."""
        proc = subprocess.run(
            [sys.executable, "-m", "examples.demo", "--crash-every", "1"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )

        assert proc.returncode == 2
        assert "--crash-every" in proc.stderr
        assert "demo_started" not in proc.stdout
