"""The ``actorgrid`` command in-process (daemon/cli): version, config show, db upgrade, usage."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from actorgrid.daemon.cli import main
from actorgrid.daemon.cli._root import COMMANDS, root

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("ACTORGRID_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


class TestCommands:
    def test_every_group_is_registered_and_resolves(self) -> None:
        """Each entry of COMMANDS is a command of the root, and its target imports."""
        for name in COMMANDS:
            assert root[name] is not None

    def test_version(self, capsys: pytest.CaptureFixture[str]) -> None:
        """``version`` prints the package version and exits 0."""
        assert main(["version"]) == 0
        assert capsys.readouterr().out.startswith("actorgrid 0.1.0 (Python 3.")

    def test_config_show_table(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """One line per setting: key, value, source."""
        monkeypatch.setenv("ACTORGRID_DAEMON__PORT", "9100")
        assert main(["config", "show", "--host", "localhost"]) == 0
        lines = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()}
        assert lines["daemon.port"] == ["9100", "env", "ACTORGRID_DAEMON__PORT"]
        assert lines["daemon.host"] == ['"localhost"', "flag", "--host"]
        assert lines["daemon.token"] == ["null", "default"]

    def test_a_bad_flag_value_exits_2(self, capsys: pytest.CaptureFixture[str]) -> None:
        """A config problem from a flag: exit 2 and a message naming it."""
        assert main(["config", "show", "--port", "99999"]) == 2
        assert "--port" in capsys.readouterr().err

    def test_an_unknown_option_is_a_usage_error(self) -> None:
        """cyclopts refuses it with exit code 2."""
        with pytest.raises(SystemExit) as caught:
            main(["run", "--no-such-option"])
        assert caught.value.code == 2

    def test_db_upgrade_migrates(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """``db upgrade`` brings a new database to the newest revision."""
        path = tmp_path / "new.db"
        monkeypatch.setenv("ACTORGRID_STORAGE__URL", f"sqlite+aiosqlite:///{path}")
        assert main(["db", "upgrade"]) == 0
        assert "is at revision" in capsys.readouterr().out
        with sqlite3.connect(path) as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
        assert {"messages", "retry_records", "dead_letters"} <= tables

    def test_db_upgrade_needs_a_database_file(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An in-memory URL is refused with exit 2."""
        monkeypatch.setenv("ACTORGRID_STORAGE__URL", "sqlite+aiosqlite:///:memory:")
        assert main(["db", "upgrade"]) == 2
