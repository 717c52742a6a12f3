"""The exit codes and messages scripts and people rely on, against a real daemon: each
refused command says what to do and changes nothing."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import rows

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.e2e.conftest import Daemon

    from .conftest import Ran


def messages(daemon: Daemon) -> int:
    count: int = rows(daemon.db, "SELECT count(*) FROM messages")[0][0]
    return count


def free_url() -> str:
    """An address nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def test_daemon_not_running_exits_3(cli: Callable[..., Ran]) -> None:
    ran = cli("status", url=free_url())
    assert ran.code == 3
    assert "the daemon is not running" in ran.err
    assert "start it with `actorgrid run`" in ran.err


def test_bad_token_exits_4_and_publishes_nothing(
    cli: Callable[..., Ran], daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = messages(daemon)
    monkeypatch.setenv("ACTORGRID_DAEMON__TOKEN", "not-the-daemons-token")
    ran = cli("publish", "jobs", '{"name": "x"}')
    assert ran.code == 4
    assert "the bearer token is wrong" in ran.err
    assert "[daemon] token" in ran.err
    assert cli("status").code == 0  # reads need no token
    assert messages(daemon) == before


def test_no_token_found_exits_4_saying_where_it_looked(
    cli: Callable[..., Ran], daemon: Daemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A config whose database has no token file beside it: the error names that file."""
    monkeypatch.setenv("ACTORGRID_STORAGE__URL", f"sqlite+aiosqlite:///{tmp_path}/other.db")
    before = messages(daemon)
    ran = cli("retries", "delete", "whatever")
    assert ran.code == 4
    assert "no token found" in ran.err
    assert f"{tmp_path}/other.db.token" in ran.err
    assert messages(daemon) == before


def test_unknown_topic_exits_5(cli: Callable[..., Ran], daemon: Daemon) -> None:
    before = messages(daemon)
    ran = cli("publish", "no-such-topic", '{"name": "x"}')
    assert ran.code == 5
    assert "no-such-topic" in ran.err
    assert "unknown_topic" in ran.err
    assert "the topics are the ones the daemon's app declares" in ran.err
    assert messages(daemon) == before


@pytest.mark.parametrize(
    ("args", "kind"),
    [
        (("dlq", "show", "no-such-id"), "dead_letter_not_found"),
        (("dlq", "replay", "no-such-id"), "dead_letter_not_found"),
        (("retries", "kill", "no-such-id"), "scheduled_not_found"),
        (("retries", "now", "no-such-id"), "scheduled_not_found"),
        (("jobs", "show", "no-such-job"), "not_found"),
    ],
)
def test_unknown_ids_exit_5(cli: Callable[..., Ran], args: tuple[str, ...], kind: str) -> None:
    ran = cli(*args)
    assert ran.code == 5, ran.err
    assert kind in ran.err
    assert "no-such" in ran.err


def test_rejected_requests_exit_6_and_change_nothing(
    cli: Callable[..., Ran], daemon: Daemon
) -> None:
    """A payload of the wrong shape is a 4xx answer (6); a purge without a selection is
    refused before any request (2)."""
    before = messages(daemon)
    wrong = cli("publish", "jobs", '{"title": "no name"}')
    assert wrong.code == 6
    assert "invalid_payload" in wrong.err
    assert "name" in wrong.err
    unselected = cli("dlq", "purge")
    assert unselected.code == 2
    assert "--everything" in unselected.err
    assert messages(daemon) == before


def test_usage_errors_exit_2_before_any_request(
    cli: Callable[..., Ran], daemon: Daemon, tmp_path: Path
) -> None:
    before = messages(daemon)
    bad_json = cli("publish", "jobs", "{not json")
    assert bad_json.code == 2
    assert "the payload is not JSON" in bad_json.err
    path = tmp_path / "bad.jsonl"
    path.write_text('{"payload": {"name": "fine"}}\n{"payload": \n', encoding="utf-8")
    bad_line = cli("publish", "jobs", "--file", str(path))
    assert bad_line.code == 2
    assert "line 2 is not JSON" in bad_line.err
    bad_target = cli("publish", "jobs", '{"name": "x"}', "--target", "no-colon")
    assert bad_target.code == 2
    assert "TYPE:ID" in bad_target.err
    both = cli("dlq", "replay", "some-id", "--topic", "jobs")
    assert both.code == 2
    assert "not both" in both.err
    assert cli("dlq", "purge", "--older-than", "soon").code == 2
    assert messages(daemon) == before
