"""The operator commands against a real daemon: one ``actorgrid run`` subprocess per module
(on a temporary database and a free port), and ``actorgrid`` called in-process."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from actorgrid.daemon.cli import main
from tests.e2e.conftest import Daemon, rows, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

DAEMON_ENV = {
    "ACTORGRID_PATTERN__ENABLED": "true",
    # Scheduled retries stay scheduled for the whole module; the early retry opens at once.
    "ACTORGRID_RETRY__BASE_WAIT_MINUTES": "30",
    "ACTORGRID_RETRY__EARLY_WAIT_MINUTES": "0.001",
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """A daemon running ``tests.e2e.apps:app`` (topic ``jobs``) for the whole module."""
    d = Daemon(tmp_path_factory.mktemp("cli") / "daemon.db", env=DAEMON_ENV)
    try:
        yield d.started()
        assert d.stop() == 0, d.stderr
    finally:
        d.close()


@dataclass(frozen=True)
class Ran:
    """What one ``actorgrid`` command did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Its stdout as JSON."""
        return json.loads(self.out)


@pytest.fixture
def cli(
    daemon: Daemon,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Callable[..., Ran]:
    """Run ``actorgrid <args> --url <the daemon>`` in-process, configured like the daemon
    (its database, so its token file) through the environment."""
    monkeypatch.chdir(tmp_path)  # no ./actorgrid.toml
    for name in [n for n in os.environ if n.startswith("ACTORGRID_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ACTORGRID_STORAGE__URL", f"sqlite+aiosqlite:///{daemon.db}")

    def run(*args: str, url: str | None = None) -> Ran:
        capsys.readouterr()
        code = main([*args, "--url", url or daemon.url])
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run


def state_of(daemon: Daemon, message_id: str) -> str | None:
    """The state of a message row (None: no such row)."""
    found = rows(daemon.db, "SELECT state FROM messages WHERE id = ?", message_id)
    return found[0][0] if found else None


def wait_state(daemon: Daemon, message_id: str, state: str) -> None:
    """Wait until the message's row is in ``state``."""
    wait_until(lambda: state_of(daemon, message_id) == state, f"{message_id} {state}")
