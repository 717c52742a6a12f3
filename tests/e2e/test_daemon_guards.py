"""What the daemon refuses, and its files: the lock, the token, the bind rule, bad apps."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from .conftest import ROOT, WAIT, cli, rows

if TYPE_CHECKING:
    from collections.abc import Callable

    from .conftest import Daemon


class TestLockFile:
    def test_a_second_daemon_is_refused_with_the_pid_of_the_first(
        self, start: Callable[..., Daemon], db: Path
    ) -> None:
        """The second daemon exits 3 naming the first's pid; the first serves on."""
        first = start().started()
        assert Path(f"{db}.lock").read_text().strip() == str(first.proc.pid)
        second = start()
        assert second.wait() == 3
        failed = second.wait_for("daemon_failed")
        assert f"pid {first.proc.pid}" in failed["error"]
        with first.client() as http:
            assert http.get("/health").status_code == 200
        assert first.stop() == 0
        assert not Path(f"{db}.lock").exists()

    def test_a_killed_daemons_lock_is_taken_over(
        self, start: Callable[..., Daemon], db: Path
    ) -> None:
        """After SIGKILL the lock file stays, names a dead pid, and the next daemon takes it."""
        first = start().started()
        first.signal(signal.SIGKILL)
        assert first.wait() == -signal.SIGKILL
        assert Path(f"{db}.lock").read_text().strip() == str(first.proc.pid)
        second = start().started()
        assert second.wait_for("stale_lock_taken_over")["stale_pid"] == first.proc.pid
        assert Path(f"{db}.lock").read_text().strip() == str(second.proc.pid)
        assert second.stop() == 0


class TestToken:
    def test_the_token_file_is_owner_only_required_and_reused(
        self, start: Callable[..., Daemon], db: Path
    ) -> None:
        """The created token file is 0600; publishing needs it (401 without it, or with
        another one, changing nothing); a restart serves the same token."""
        first = start().started()
        path = Path(f"{db}.token")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = first.token()
        job = {"payload": {"name": "x"}}
        for wrong in ("", "not-the-token"):
            with first.client(token=wrong) as http:
                answer = http.post("/v1/topics/jobs/messages", json=job)
            assert answer.status_code == 401
            assert answer.json()["error"] == "unauthorized"
        assert first.stop() == 0
        assert rows(db, "SELECT COUNT(*) FROM messages") == [(0,)]
        second = start().started()
        assert second.token() == token
        with second.client() as http:
            assert http.post("/v1/topics/jobs/messages", json=job).status_code == 201
        assert second.stop() == 0

    def test_no_public_bind_without_a_configured_token(
        self, start: Callable[..., Daemon], db: Path
    ) -> None:
        """``--host 0.0.0.0`` without a token exits 2 and says to configure one."""
        d = start("--host", "0.0.0.0")
        assert d.wait() == 2
        assert "no token is configured" in d.wait_for("daemon_failed")["error"]
        assert not Path(f"{db}.token").exists()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ACTORGRID_")}
    return subprocess.run(
        cli(*args),
        cwd=ROOT,
        env=environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )


class TestBadApps:
    def test_an_app_that_cannot_be_imported_fails_at_start(self, tmp_path: Path) -> None:
        """A missing module: exit 2, and the error names it."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
        done = run_cli("run", "--app", "tests.e2e.nowhere:app", env={"ACTORGRID_STORAGE__URL": url})
        assert done.returncode == 2
        assert "no module named 'tests.e2e.nowhere'" in done.stderr
        assert not (tmp_path / "x.db").exists()

    def test_an_app_that_declares_something_invalid_fails_at_start(self, tmp_path: Path) -> None:
        """A declaration error at import: exit 2, naming the module and the problem."""
        url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
        done = run_cli("run", "--app", "tests.e2e.bad_app:app", env={"ACTORGRID_STORAGE__URL": url})
        assert done.returncode == 2
        assert "importing module 'tests.e2e.bad_app' failed: UnknownTopic" in done.stderr
        assert "'missing'" in done.stderr


class TestConfigShow:
    def test_each_value_names_its_source(self, tmp_path: Path) -> None:
        """Defaults, the file, an environment variable and a flag, each where it wins."""
        config = tmp_path / "actorgrid.toml"
        config.write_text(
            '[daemon]\nport = 9001\nhost = "127.0.0.1"\n[broker]\ndrain_timeout = 3.0\n'
        )
        done = run_cli(
            "config",
            "show",
            "--json",
            "--config",
            str(config),
            "--port",
            "9002",
            env={"ACTORGRID_DAEMON__HOST": "localhost", "ACTORGRID_DAEMON__TOKEN": "t" * 20},
        )
        assert done.returncode == 0, done.stderr
        shown = {v["key"]: (v["value"], v["source"]) for v in json.loads(done.stdout)}
        assert shown["daemon.port"] == (9002, "flag --port")
        assert shown["daemon.host"] == ("localhost", "env ACTORGRID_DAEMON__HOST")
        assert shown["daemon.token"] == ("<set>", "env ACTORGRID_DAEMON__TOKEN")
        assert shown["broker.drain_timeout"] == (3.0, f"file {config}")
        assert shown["daemon.log_level"] == ("info", "default")

    def test_a_bad_value_exits_2_naming_its_source(self, tmp_path: Path) -> None:
        """A bad environment value: exit 2, the variable and the field named."""
        done = run_cli("config", "show", env={"ACTORGRID_DAEMON__PORT": "many"})
        assert done.returncode == 2
        assert "ACTORGRID_DAEMON__PORT" in done.stderr
        assert "daemon.port" in done.stderr
