"""Where the CLI finds the daemon and its token: the config ``actorgrid run`` reads, or
``--url``; and the time values of the dead-letter filters."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from actorgrid.daemon.cli._client import locate
from actorgrid.daemon.cli._errors import UsageProblem
from actorgrid.daemon.cli._filters import parse_duration, parse_moment

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in [n for n in os.environ if n.startswith("ACTORGRID_")]:
        monkeypatch.delenv(name)


def config(tmp_path: Path, daemon: str) -> Path:
    path = tmp_path / "actorgrid.toml"
    path.write_text(
        f'[storage]\nurl = "sqlite+aiosqlite:///{tmp_path}/d.db"\n\n[daemon]\n{daemon}\n',
        encoding="utf-8",
    )
    return path


def test_the_address_and_token_file_come_from_the_config(tmp_path: Path) -> None:
    path = config(tmp_path, 'host = "0.0.0.0"\nport = 9911\ntoken = "a-configured-token-1"')
    found = locate(path, None)
    assert found.url == "http://127.0.0.1:9911"  # any address: reached on loopback
    assert (found.token, found.token_source) == ("a-configured-token-1", "[daemon] token")

    path = config(tmp_path, 'host = "::1"\nport = 9912')
    (tmp_path / "d.db.token").write_text("from-the-token-file\n", encoding="utf-8")
    found = locate(path, None)
    assert found.url == "http://[::1]:9912"
    assert found.token == "from-the-token-file"
    assert str(tmp_path / "d.db.token") in found.token_source


def test_environment_and_url_override_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, "port = 9913")
    monkeypatch.setenv("ACTORGRID_DAEMON__PORT", "9914")
    assert locate(path, None).url == "http://127.0.0.1:9914"
    assert locate(path, "http://example.test:1/").url == "http://example.test:1"
    assert locate(path, None).token is None  # no token file yet


def test_port_0_needs_url(tmp_path: Path) -> None:
    path = config(tmp_path, "port = 0")
    with pytest.raises(UsageProblem, match="give it with --url"):
        locate(path, None)
    assert locate(path, "http://127.0.0.1:5").url == "http://127.0.0.1:5"


def test_durations_and_moments() -> None:
    assert [parse_duration(t, "--x") for t in ("90", "30m", "1.5h", "7d")] == [
        90.0,
        1800.0,
        5400.0,
        604800.0,
    ]
    assert parse_moment("1700000000.5", "--since") == 1700000000.5
    assert parse_moment("2023-11-14T22:13:20+00:00", "--since") == 1700000000.0
    with pytest.raises(UsageProblem, match="--older-than must be a duration"):
        parse_duration("7 weeks", "--older-than")
    with pytest.raises(UsageProblem, match="--until must be epoch seconds or an ISO 8601"):
        parse_moment("yesterday", "--until")
