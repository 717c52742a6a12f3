"""A real daemon as a subprocess: ``actorgrid run`` on a temporary database and a free port."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0
"""Upper bound of any wait; only reached when something is broken."""


def cli(*args: str) -> list[str]:
    """The command line of ``actorgrid <args>``."""
    return [sys.executable, "-m", "actorgrid.daemon.cli", *args]


class Daemon:
    """One ``actorgrid run`` process; its stderr JSON events are read in a thread."""

    def __init__(self, db: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()):
        self.db = db
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ACTORGRID_")}
        environ |= {
            "ACTORGRID_STORAGE__URL": f"sqlite+aiosqlite:///{db}",
            "ACTORGRID_DAEMON__APP": "tests.e2e.apps:app",
            "ACTORGRID_DAEMON__PORT": "0",
            "ACTORGRID_PATTERN__ENABLED": "false",
            # A 3 s base window: long enough to stop and restart in between.
            "ACTORGRID_RETRY__BASE_WAIT_MINUTES": "0.05",
            "ACTORGRID_RETRY__EARLY_WAIT_MINUTES": "0.01",
        }
        environ |= env or {}
        self.proc = subprocess.Popen(
            cli("run", *args),
            cwd=ROOT,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.events: list[dict[str, Any]] = []
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._changed:
                self.lines.append(line)
                if line.startswith("{"):
                    self.events.append(json.loads(line))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, event: str, **fields: object) -> dict[str, Any]:
        """The first event named ``event`` with these fields (waits for it)."""

        def found() -> dict[str, Any] | None:
            for e in self.events:
                if e.get("event") == event and all(e.get(k) == v for k, v in fields.items()):
                    return e
            return None

        deadline = time.monotonic() + WAIT
        with self._changed:
            while (hit := found()) is None:
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(f"daemon ended without {event}: {self.stderr}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"no {event} within {WAIT} s: {self.stderr}")
                self._changed.wait(0.1)
        return hit

    @property
    def stderr(self) -> str:
        with self._changed:
            return "".join(self.lines)

    def started(self) -> Daemon:
        """Wait until the API listens; return self."""
        self.url = self.wait_for("api_listening")["url"]
        return self

    def token(self) -> str:
        return Path(f"{self.db}.token").read_text(encoding="utf-8").strip()

    def client(self, token: str | None = None) -> httpx.Client:
        """An HTTP client for the API, with the daemon's token unless told otherwise (``""``:
        no Authorization header)."""
        token = self.token() if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=WAIT)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def wait(self) -> int:
        """Wait for the exit; return the exit status."""
        status = self.proc.wait(timeout=WAIT)
        self._reader.join(timeout=WAIT)
        return status

    def close(self) -> None:
        """Kill the process if it still runs; close its pipe."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=WAIT)
        self._reader.join(timeout=WAIT)
        assert self.proc.stderr is not None
        self.proc.stderr.close()

    def stop(self) -> int:
        """SIGTERM and wait for the exit."""
        self.signal(signal.SIGTERM)
        return self.wait()


def rows(db: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Run a query on the daemon's SQLite file from outside."""
    with sqlite3.connect(db, timeout=WAIT) as connection:
        return connection.execute(sql, params).fetchall()


def wait_until(check: Callable[[], bool], what: str) -> None:
    """Poll ``check`` until it holds (bounded by :data:`WAIT`)."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "daemon.db"


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    """Daemons a test starts; any still running at the end are killed."""
    started: list[Daemon] = []
    yield started
    for d in started:
        d.close()


@pytest.fixture
def start(db: Path, daemons: list[Daemon]) -> Callable[..., Daemon]:
    """Start a daemon on the test's database (``env`` and ``args`` as for :class:`Daemon`)."""

    def make(*args: str, env: dict[str, str] | None = None, path: Path | None = None) -> Daemon:
        d = Daemon(path or db, env=env, args=args)
        daemons.append(d)
        return d

    return make
