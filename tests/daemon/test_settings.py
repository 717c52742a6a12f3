"""The daemon's configuration (daemon/_settings.py, _files.py): precedence and sources."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from actorgrid import ConfigError
from actorgrid.daemon import DaemonFiles, config_sources, load_daemon_config

if TYPE_CHECKING:
    from pathlib import Path

TOKEN = "s3cret-token-of-20-chars"


@pytest.fixture
def toml(tmp_path: Path) -> Path:
    path = tmp_path / "actorgrid.toml"
    path.write_text(
        '[daemon]\nport = 9001\nhost = "localhost"\nlog_level = "debug"\n'
        "[broker]\ndrain_timeout = 2.5\n",
        encoding="utf-8",
    )
    return path


class TestPrecedence:
    def test_defaults(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """No file, no variables, no flags: the documented defaults."""
        monkeypatch.chdir(tmp_path)
        config = load_daemon_config(environ={})
        assert (config.daemon.host, config.daemon.port, config.daemon.token) == (
            "127.0.0.1",
            8765,
            None,
        )
        assert config.broker.drain_timeout == 10.0

    def test_file_then_environment_then_flags(self, toml: Path) -> None:
        """Each layer overrides the one below it, field by field."""
        env = {"ACTORGRID_DAEMON__PORT": "9002", "ACTORGRID_DAEMON__LOG_LEVEL": "warning"}
        config = load_daemon_config(toml, environ=env, flags={"log_level": "error", "app": None})
        assert config.daemon.host == "localhost"  # file
        assert config.daemon.port == 9002  # env over file
        assert config.daemon.log_level == "error"  # flag over env
        assert config.broker.drain_timeout == 2.5  # file
        assert config.daemon.app is None  # a flag left out is not given

    def test_the_file_in_the_working_directory_is_read(
        self, toml: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without ``--config``, ``./actorgrid.toml`` is used when it exists."""
        monkeypatch.chdir(toml.parent)
        assert load_daemon_config(environ={}).daemon.port == 9001

    @pytest.mark.parametrize(
        ("env", "flags", "source", "text"),
        [
            ({"ACTORGRID_DAEMON__PORT": "many"}, {}, "ACTORGRID_DAEMON__PORT", "int"),
            ({"ACTORGRID_DAEMON__NOPE": "1"}, {}, "ACTORGRID_DAEMON__NOPE", "unknown field"),
            ({}, {"port": 70000}, "--port", "0 to 65535"),
            ({}, {"log_level": "loud"}, "--log-level", "log_level must be one of"),
            ({}, {"host": ""}, "--host", "host must not be empty"),
            ({"ACTORGRID_DAEMON__TOKEN": "short"}, {}, "ACTORGRID_DAEMON__TOKEN", "16"),
        ],
    )
    def test_a_bad_value_names_its_source(
        self, toml: Path, env: dict[str, str], flags: dict[str, object], source: str, text: str
    ) -> None:
        """A bad variable or flag raises ConfigError naming it and what was expected."""
        with pytest.raises(ConfigError) as caught:
            load_daemon_config(toml, environ=env, flags=flags)
        assert source in str(caught.value)
        assert text in str(caught.value)

    def test_a_missing_file_is_an_error(self, tmp_path: Path) -> None:
        """An explicit ``--config`` that does not exist is refused."""
        with pytest.raises(ConfigError, match="file not found"):
            load_daemon_config(tmp_path / "absent.toml", environ={})


class TestSources:
    def test_each_leaf_names_where_it_came_from(self, toml: Path) -> None:
        """default, file, env (also a whole table set as JSON) and flag."""
        env = {
            "ACTORGRID_DAEMON__PORT": "9002",
            "ACTORGRID_DAEMON__TOKEN": TOKEN,
            "ACTORGRID_GATE": '{"flush_interval": 0.2}',
        }
        shown = {
            v.key: (v.value, v.source)
            for v in config_sources(toml, environ=env, flags={"host": "127.0.0.2"})
        }
        assert shown["daemon.host"] == ("127.0.0.2", "flag --host")
        assert shown["daemon.port"] == (9002, "env ACTORGRID_DAEMON__PORT")
        assert shown["daemon.log_level"] == ("debug", f"file {toml}")
        assert shown["daemon.token"] == ("<set>", "env ACTORGRID_DAEMON__TOKEN")
        assert shown["gate.flush_interval"] == (0.2, "env ACTORGRID_GATE")
        assert shown["gate.flush_rows"] == (1000, "env ACTORGRID_GATE")
        assert shown["storage.url"][1] == "default"
        assert shown["retry.base_wait_minutes"] == (30.0, "default")


class TestDaemonFiles:
    def test_beside_the_database(self, tmp_path: Path) -> None:
        """``<db>.lock`` and ``<db>.token`` beside the SQLite file."""
        files = DaemonFiles.beside(f"sqlite+aiosqlite:///{tmp_path}/x.db")
        assert (files.lock.name, files.token.name) == ("x.db.lock", "x.db.token")
        assert files.lock.parent == tmp_path

    @pytest.mark.parametrize(
        "url", [None, "sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite://", "not a url"]
    )
    def test_no_database_file_is_refused(self, url: str | None) -> None:
        """A daemon needs a database file to lock."""
        with pytest.raises(ConfigError, match=r"storage\.url"):
            DaemonFiles.beside(url)
