"""The ``actorgrid`` console script as a subprocess against a real daemon subprocess."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import ROOT, WAIT, Daemon, rows, wait_until

if TYPE_CHECKING:
    from collections.abc import Iterator

SCRIPT = Path(sys.executable).with_name("actorgrid")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    d = Daemon(tmp_path_factory.mktemp("cli-e2e") / "daemon.db")
    try:
        yield d.started()
        assert d.stop() == 0, d.stderr
    finally:
        d.close()


def actorgrid(
    daemon: Daemon | None, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the console script, configured like ``daemon`` through the environment."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ACTORGRID_")}
    if daemon is not None:
        environ["ACTORGRID_STORAGE__URL"] = f"sqlite+aiosqlite:///{daemon.db}"
        args = (*args, "--url", daemon.url)
    return subprocess.run(
        [str(SCRIPT), *args],
        cwd=ROOT,
        env=environ | (env or {}),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


def test_publish_a_batch_from_stdin_and_read_it_back(daemon: Daemon) -> None:
    """Messages piped in are published and handled; --json output parses; a bad token is 4."""
    lines = "".join(json.dumps({"payload": {"name": f"cli-{i}"}}) + "\n" for i in range(20))
    ran = actorgrid(daemon, "publish", "jobs", "--file", "-", "--json", stdin=lines)
    assert ran.returncode == 0, ran.stderr
    ids = json.loads(ran.stdout)["ids"]
    assert len(ids) == 20

    def handled() -> bool:
        marks = ",".join("?" * len(ids))
        return rows(
            daemon.db,
            f"SELECT count(*) FROM messages WHERE state = 'done' AND id IN ({marks})",
            *ids,
        ) == [(20,)]

    wait_until(handled, "the 20 messages handled")
    status = actorgrid(daemon, "status", "--json")
    assert status.returncode == 0
    assert json.loads(status.stdout)["broker"]["acked"] >= 20

    refused = actorgrid(
        daemon, "publish", "jobs", '{"name": "x"}', env={"ACTORGRID_DAEMON__TOKEN": "w" * 20}
    )
    assert refused.returncode == 4
    assert "token" in refused.stderr


def test_a_daemon_that_is_not_running_exits_3() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ran = actorgrid(None, "dlq", "list", env={"ACTORGRID_DAEMON__PORT": str(port)})
    assert ran.returncode == 3
    assert f"the daemon is not running at http://127.0.0.1:{port}" in ran.stderr
    assert "start it with `actorgrid run`" in ran.stderr
